"""The everyday kubectl commands of issue #15, run with BOTH kubectls (the current one from PyPI and
Debian's 1.20) against a running sandbox, exit code and output checked as a real v1.30 cluster answers.

Append-only for other helpers: add a ``Cmd`` to COMMANDS (or a test function below) for your part.
Each command runs in order in one module-scoped sandbox per kubectl; ``{ns}`` is that kubectl's own
namespace (created by the first command), ``{tmp}`` a scratch directory holding the files of FILES.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

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
FILES = {"deploy.yaml": DEPLOY_YAML.replace("{replicas}", "1"), "deploy3.yaml": DEPLOY_YAML.replace("{replicas}", "3"),
         "bad.yaml": BAD_YAML.replace("{replicas}", "1")}

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
]


def kubectl(binary: str, kubeconfig: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--kubeconfig", kubeconfig, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope="module", params=["current", "debian"])
def which(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[c.args.split(" {")[0][:40] for c in COMMANDS])
def test_everyday_commands(sandbox: SandboxThread, which: str, index: int, tmp_path_factory: pytest.TempPathFactory
                           ) -> None:
    cmd = COMMANDS[index]
    if cmd.only and cmd.only != which:
        pytest.skip(f"{cmd.args} is for the {cmd.only} kubectl")
    binary = current_kubectl() if which == "current" else debian_kubectl()
    tmp = tmp_path_factory.getbasetemp() / f"kubectl-{which}"
    ns = f"cmds-{which}"
    if not tmp.exists():
        tmp.mkdir()
        for name, text in FILES.items():
            (tmp / name).write_text(text.format(ns=ns))
    args = cmd.args.format(ns=ns, tmp=tmp).split(" ")
    done = kubectl(binary, sandbox.info.kubeconfig, args, cmd.timeout)
    output = done.stdout + done.stderr
    assert done.returncode == cmd.rc, f"kubectl {' '.join(args)} → {done.returncode}: {output}"
    for text in cmd.out:
        assert text.format(ns=ns) in output, f"kubectl {' '.join(args)}: {output}"
    for text in cmd.not_out:
        assert text.format(ns=ns) not in output, f"kubectl {' '.join(args)}: {output}"

