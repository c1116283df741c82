"""The everyday kubectl commands of issue #15, run with BOTH kubectls (the current one from PyPI and
Debian's 1.20) against a running sandbox, exit code and output checked as a real v1.30 cluster answers.

Append-only for other helpers: add a ``Cmd`` to COMMANDS (or a test function below) for your part.
The commands run in order, in one test per kubectl (each builds on the ones before it), against the module's
sandbox; ``{ns}`` is that kubectl's own namespace (created by the first command), ``{tmp}`` a scratch directory
holding the files of FILES; ``only`` marks a command one kubectl does not have (``auth whoami`` in 1.20).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from console.sandbox.server import SandboxThread
from tests.conftest import current_kubectl, debian_kubectl


@dataclass(frozen=True)
class Cmd:
    args: str  # formatted with ns= and tmp=, then split on spaces
    rc: int = 0
    out: tuple[str, ...] = ()  # each must appear in stdout+stderr
    not_out: tuple[str, ...] = ()
    only: str = ""  # "current" or "debian" to run with one kubectl only
    timeout: float = 60
    env: dict[str, str] = field(default_factory=dict)
    # Tries, 1 s apart, for a command that races the controllers as it does on a real cluster (see its use).
    tries: int = 1


DEPLOY_YAML = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: applied, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: applied}}}}
  template:
    metadata: {{labels: {{app: applied}}}}
    spec:
      containers: [{{name: c, image: "nginx:1.25"}}]
"""
BAD_YAML = DEPLOY_YAML.replace("  replicas:", "  bogus: 1\n  replicas:").replace("applied", "invalid")
SSA_YAML = DEPLOY_YAML.replace("applied", "ssa")
FILES = {"deploy.yaml": DEPLOY_YAML.replace("{replicas}", "1"), "deploy3.yaml": DEPLOY_YAML.replace("{replicas}", "3"),
         "bad.yaml": BAD_YAML.replace("{replicas}", "1"), "ssa.yaml": SSA_YAML.replace("{replicas}", "1"),
         "ssa3.yaml": SSA_YAML.replace("{replicas}", "3")}
FILES["pdb.yaml"] = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: web-pdb, namespace: {ns}}}
spec: {{minAvailable: 1, selector: {{matchLabels: {{app: web}}}}}}
"""

COMMANDS: list[Cmd] = [
    Cmd("create namespace {ns}", out=("namespace/{ns} created",)),
    Cmd("create deployment web --image=nginx:1.25 -n {ns}", out=("deployment.apps/web created",)),
    Cmd("rollout status deployment/web -n {ns} --timeout=60s", out=('deployment "web" successfully rolled out',)),
    Cmd("apply -f {tmp}/deploy.yaml", out=("deployment.apps/applied created",)),
    Cmd("apply -f {tmp}/deploy.yaml", out=("deployment.apps/applied unchanged",)),
    Cmd("create -f {tmp}/bad.yaml", rc=1, out=('unknown field "', "bogus")),
    Cmd("apply -f {tmp}/deploy3.yaml --dry-run=server", out=("deployment.apps/applied configured (server dry run)",)),
    Cmd("get deployment applied -n {ns} -o jsonpath={{.spec.replicas}}", out=("1",)),
    Cmd("diff -f {tmp}/deploy3.yaml", rc=1, out=("-  replicas: 1", "+  replicas: 3")),
    Cmd("diff -f {tmp}/deploy.yaml", rc=0),
    Cmd("explain deployment.spec.replicas", out=("replicas", "<integer>")),
    Cmd("explain pods.spec.containers.image", out=("<string>",)),
    Cmd("get pods -n {ns} -w --request-timeout=3s", rc=0, out=("web-",)),
    Cmd("apply --server-side -f {tmp}/ssa.yaml", out=("deployment.apps/ssa serverside-applied",)),
    Cmd("apply --server-side --field-manager=other -f {tmp}/ssa3.yaml", rc=1,
        out=('Apply failed with 1 conflict: conflict with "kubectl"', ".spec.replicas")),
    Cmd("apply --server-side --field-manager=other --force-conflicts -f {tmp}/ssa3.yaml",
        out=("deployment.apps/ssa serverside-applied",)),
    Cmd("get deployment ssa -n {ns} -o jsonpath={{.spec.replicas}}", out=("3",)),
    Cmd("apply --server-side -f {tmp}/ssa.yaml --dry-run=server", rc=1, out=('conflict with "other"',)),
    Cmd("get deployment ssa -n {ns} -o jsonpath={{.metadata.managedFields[*].manager}}", out=("kubectl other",)),
    Cmd("diff --server-side -f {tmp}/ssa.yaml --force-conflicts", rc=1, out=("-  replicas: 3", "+  replicas: 1")),
    # h2: scale, autoscale (autoscaling/v1), RBAC of the three contexts, whoami, tokens, secrets, events,
    # describe, the rollout verbs, logs, budgets, -o json/yaml.
    Cmd("scale deployment web --replicas=2 -n {ns}", out=("deployment.apps/web scaled",)),
    Cmd("autoscale deployment web --min=1 --max=3 --cpu-percent=70 -n {ns}",
        out=("horizontalpodautoscaler.autoscaling/web autoscaled",)),
    Cmd("get hpa web -n {ns}", out=("Deployment/web", "70%")),
    Cmd("get horizontalpodautoscalers.v1.autoscaling web -n {ns} -o jsonpath={{.spec.targetCPUUtilizationPercentage}}",
        out=("70",)),
    Cmd("get horizontalpodautoscalers.v2.autoscaling web -n {ns} "
        "-o jsonpath={{.spec.metrics[0].resource.target.averageUtilization}}", out=("70",)),
    Cmd("auth can-i create deployments -n {ns}", out=("yes",)),
    Cmd("auth can-i list nodes --context sandbox-viewer", rc=1, out=("no",)),
    Cmd("auth can-i get secrets -n {ns} --context sandbox-viewer", rc=1, out=("no",)),
    Cmd("auth can-i list pods -n {ns} --context sandbox-viewer", out=("yes",)),
    Cmd("auth can-i create pods/eviction -n {ns} --context sandbox-viewer", rc=1, out=("no",)),
    Cmd("auth whoami", out=("sandbox-admin",), only="current"),
    Cmd("auth whoami --context sandbox-viewer", out=("sandbox-viewer",), only="current"),
    Cmd("create serviceaccount robot -n {ns}", out=("serviceaccount/robot created",)),
    Cmd("get serviceaccount default -n {ns}", out=("default",)),
    Cmd("create token robot -n {ns}", out=("eyJ",), only="current"),
    Cmd("create secret generic s1 --from-literal=k=v -n {ns}", out=("secret/s1 created",)),
    Cmd("get secrets -n {ns}", out=("s1", "Opaque")),
    Cmd("get secrets -n {ns} --context sandbox-viewer", rc=1,
        out=('secrets is forbidden: User "sandbox-viewer" cannot list resource "secrets" in API group ""',)),
    Cmd("get nodes --context sandbox-viewer", rc=1,
        out=('nodes is forbidden: User "sandbox-viewer" cannot list resource "nodes" in API group "" at the '
             "cluster scope",)),
    Cmd("get deployments -n {ns} --context sandbox-viewer", out=("web",)),
    # view has no Prometheus Operator kinds unless the chart's aggregate roles are on (off by default)
    Cmd("get servicemonitors -n llm --context sandbox-viewer", rc=1,
        out=('servicemonitors.monitoring.coreos.com is forbidden: User "sandbox-viewer"',)),
    Cmd("get events -n {ns}", out=("ScalingReplicaSet",)),
    Cmd("events -n {ns}", out=("ScalingReplicaSet", "Scaled up replica set web-"), only="current"),
    Cmd("describe deployment web -n {ns}", out=("Replicas:", "ScalingReplicaSet", "Scaled up replica set web-")),
    Cmd("describe nodes", out=("Capacity:", "nvidia.com/gpu")),
    Cmd("set image deployment/web nginx=nginx:1.26 -n {ns}", out=("deployment.apps/web image updated",)),
    Cmd("rollout status deployment/web -n {ns} --timeout=60s", out=('deployment "web" successfully rolled out',)),
    Cmd("rollout history deployment/web -n {ns}", out=("REVISION", "1 ", "2 ")),
    Cmd("rollout undo deployment/web -n {ns}", out=("deployment.apps/web rolled back",)),
    Cmd("get deployment web -n {ns} -o jsonpath={{.spec.template.spec.containers[0].image}}", out=("nginx:1.25",)),
    Cmd("rollout pause deployment/web -n {ns}", out=("deployment.apps/web paused",)),
    Cmd("rollout resume deployment/web -n {ns}", out=("deployment.apps/web resumed",)),
    Cmd("rollout restart deployment/web -n {ns}", out=("deployment.apps/web restarted",)),
    Cmd("rollout status deployment/web -n {ns} --timeout=60s", out=('deployment "web" successfully rolled out',)),
    # Right after a rollout, kubectl may pick an old pod (ready for longer: first in its order) that the
    # ReplicaSet controller is deleting, and ask for its logs once it is gone: NotFound. On a real cluster too;
    # kubectl picks again when run again.
    Cmd("logs deployment/web -n {ns} --tail=5", tries=3),
    Cmd("create poddisruptionbudget web-pdb --selector=app=web --min-available=1 -n {ns}",
        out=("poddisruptionbudget.policy/web-pdb created",), only="current"),
    # kubectl 1.20 creates budgets in policy/v1beta1, which a v1.30 server no longer serves.
    Cmd("create poddisruptionbudget web-pdb --selector=app=web --min-available=1 -n {ns}", rc=1,
        out=('no matches for kind "PodDisruptionBudget" in version "policy/v1beta1"',), only="debian"),
    Cmd("create -f {tmp}/pdb.yaml", out=("poddisruptionbudget.policy/web-pdb created",), only="debian"),
    Cmd("get pdb web-pdb -n {ns}", out=("MIN AVAILABLE", "ALLOWED DISRUPTIONS", "web-pdb")),
    Cmd("get pdb web-pdb -n {ns} -o jsonpath={{.status.desiredHealthy}}/{{.status.observedGeneration}}",
        out=("1/1",)),
    Cmd("get deployment web -n {ns} -o json", out=('"kind": "Deployment"', '"observedGeneration"')),
    Cmd("get deployment web -n {ns} -o yaml", out=("kind: Deployment", "generation:")),
]


def kubectl(binary: str, kubeconfig: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--kubeconfig", kubeconfig, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def run(binary: str, kubeconfig: str, cmd: Cmd, ns: str, tmp: Path) -> str | None:
    """Run one command; what is wrong with its answer, or None."""
    args = cmd.args.format(ns=ns, tmp=tmp).split(" ")
    done = kubectl(binary, kubeconfig, args, cmd.timeout)
    for _ in range(cmd.tries - 1):
        if done.returncode == cmd.rc:
            break
        time.sleep(1)
        done = kubectl(binary, kubeconfig, args, cmd.timeout)
    output = done.stdout + done.stderr
    if done.returncode != cmd.rc:
        return f"kubectl {' '.join(args)} → exit {done.returncode}, not {cmd.rc}: {output}"
    missing = [text for text in cmd.out if text.format(ns=ns) not in output]
    extra = [text for text in cmd.not_out if text.format(ns=ns) in output]
    if missing or extra:
        return f"kubectl {' '.join(args)}: missing {missing}, unexpected {extra}: {output}"
    return None


@pytest.mark.parametrize("which", ["current", "debian"])
def test_everyday_commands(sandbox: SandboxThread, which: str, tmp_path: Path) -> None:
    """The list in order (each command builds on the ones before it), then the namespace deleted; the first
    command answered otherwise than a v1.30 server answers fails the test."""
    binary = current_kubectl() if which == "current" else debian_kubectl()
    ns = f"cmds-{which}"
    for name, text in FILES.items():
        (tmp_path / name).write_text(text.format(ns=ns))
    ran = 0
    for cmd in COMMANDS:
        if cmd.only and cmd.only != which:
            continue
        wrong = run(binary, sandbox.info.kubeconfig, cmd, ns, tmp_path)
        assert wrong is None, f"command {ran + 1} of the list: {wrong}"
        ran += 1
    assert ran >= 40
    done = kubectl(binary, sandbox.info.kubeconfig, ["delete", "namespace", ns], 60)
    assert done.returncode == 0 and f'namespace "{ns}" deleted' in done.stdout, done.stdout + done.stderr
    gone = kubectl(binary, sandbox.info.kubeconfig, ["get", "namespace", ns], 30)
    assert gone.returncode == 1 and "NotFound" in gone.stderr, gone.stdout + gone.stderr
