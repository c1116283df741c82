"""``llmctl get`` against the sandbox, compared with what a current kubectl prints for the same request: the
same columns, rows and spacing (the AGE cells are left out of the comparison — the clock moves between the two
runs), the same ``-o name`` lines and objects, the same exit codes and wording for nothing found / unknown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from console.sandbox.server import SandboxThread
from tests.conftest import current_kubectl, start_sandbox

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxThread]:
    """A sandbox whose clock runs at real speed, so that nothing changes between the two commands."""
    thread = start_sandbox(speed=1.0)
    try:
        yield thread
    finally:
        thread.stop()


def llmctl(sb: SandboxThread, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", "get", "--kubeconfig", str(sb.info.kubeconfig),
                           *args], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "LLMCTL_STATE_DIR": str(Path(sb.info.kubeconfig).parent)})


def kubectl(sb: SandboxThread, *args: str, get: bool = True) -> subprocess.CompletedProcess[str]:
    """The current kubectl: ``kubectl get ARGS`` (``get=False``: ``kubectl ARGS``)."""
    return subprocess.run([current_kubectl(), "--kubeconfig", str(sb.info.kubeconfig), *(("get",) if get else ()),
                           *args], capture_output=True, text=True, timeout=60)


def without_age(text: str) -> list[list[str]]:
    """The table's cells, column by column as the header places them, with AGE/LAST SEEN left out."""
    lines = text.splitlines()
    out: list[list[str]] = []
    header = ""
    starts: list[int] = []
    for line in lines:
        if not line.strip():
            header = ""
            continue
        if not header:
            header = line
            starts = [i for i, c in enumerate(line) if c != " " and (i == 0 or line[i - 1] == " ")
                      and (i < 2 or line[i - 2:i] == "  " or i == 0)]
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        out.append([c for c, n in zip(cells, names, strict=True) if n not in ("AGE", "LAST SEEN")])
    return out


@pytest.mark.parametrize("args", [
    ("pods", "-n", "llm"), ("deploy", "-n", "llm"), ("rs", "-n", "llm"), ("svc", "-A"), ("nodes",),
    ("hpa", "-n", "llm"), ("ns",), ("pods", "-A", "-o", "wide"), ("deployments.apps", "-n", "llm", "-o", "wide"),
    ("no", "-o", "wide"), ("deploy,svc", "-n", "llm"), ("pvc", "-A"), ("cm", "-A"), ("ds", "-A"),
    ("all", "-n", "llm"),
])
def test_tables_match_kubectl(slow_sandbox: SandboxThread, args: tuple[str, ...]) -> None:
    # The cluster lives on between the two reads (an HPA's status, a pod's phase): a difference must last over
    # three reads in a row to count.
    for _ in range(3):
        ours, theirs = llmctl(slow_sandbox, *args), kubectl(slow_sandbox, *args)
        assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr + theirs.stderr
        if without_age(ours.stdout) == without_age(theirs.stdout):
            break
    assert ours.stdout.strip() and without_age(ours.stdout) == without_age(theirs.stdout)
    # same spacing: every header starts in the same column as kubectl's
    assert ours.stdout.splitlines()[0] == theirs.stdout.splitlines()[0]


RULE = """
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: get-test-rules, namespace: llm, labels: {app: get-test}}
spec:
  groups:
  - name: get-test
    rules:
    - alert: GetTestAlert
      expr: vector(1) > 2
"""


def test_custom_resources_match_kubectl(slow_sandbox: SandboxThread, tmp_path: Path) -> None:
    (tmp_path / "rule.yaml").write_text(RULE)
    made = subprocess.run([current_kubectl(), "--kubeconfig", str(slow_sandbox.info.kubeconfig), "apply",
                           "--validate=false", "-f", str(tmp_path / "rule.yaml")], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    for args in (("prometheusrules", "-A"), ("prometheusrules.monitoring.coreos.com", "-n", "llm", "-o", "wide"),
                 ("prometheusrule", "get-test-rules", "-n", "llm")):
        ours, theirs = llmctl(slow_sandbox, *args), kubectl(slow_sandbox, *args)
        assert (ours.returncode, theirs.returncode) == (0, 0), ours.stderr + theirs.stderr
        assert "get-test-rules" in ours.stdout and without_age(ours.stdout) == without_age(theirs.stdout)


def test_one_object_and_names_match_kubectl(slow_sandbox: SandboxThread) -> None:
    pods = json.loads(kubectl(slow_sandbox, "pods", "-n", "llm", "-o", "json").stdout)["items"]
    name = pods[0]["metadata"]["name"]
    for args in (("pod", name, "-n", "llm"), (f"pods/{name}", "-n", "llm")):
        ours, theirs = llmctl(slow_sandbox, *args), kubectl(slow_sandbox, *args)
        assert ours.returncode == theirs.returncode == 0
        assert without_age(ours.stdout) == without_age(theirs.stdout) and len(ours.stdout.splitlines()) == 2
    for args in (("deploy", "-n", "llm", "-o", "name"), ("nodes", "-o", "name"), ("all", "-n", "llm", "-o", "name")):
        ours, theirs = llmctl(slow_sandbox, *args), kubectl(slow_sandbox, *args)
        assert ours.returncode == theirs.returncode == 0
        assert sorted(ours.stdout.split()) == sorted(theirs.stdout.split()) and ours.stdout.strip()


def test_json_and_yaml_hold_the_same_objects_as_kubectl(slow_sandbox: SandboxThread) -> None:
    theirs = json.loads(kubectl(slow_sandbox, "deploy", "-n", "llm", "-o", "json").stdout)
    ours = json.loads(llmctl(slow_sandbox, "deploy", "-n", "llm", "-o", "json").stdout)
    assert ours["kind"] == theirs["kind"] == "List"
    assert [(i["apiVersion"], i["kind"], i["metadata"]["name"]) for i in ours["items"]] == \
           [(i["apiVersion"], i["kind"], i["metadata"]["name"]) for i in theirs["items"]]
    one = yaml.safe_load(llmctl(slow_sandbox, "deploy", "claude-router", "-n", "llm", "-o", "yaml").stdout)
    assert one["kind"] == "Deployment" and one["metadata"]["name"] == "claude-router" and "spec" in one
    # managedFields hidden as kubectl hides them, shown with --show-managed-fields
    assert not any("managedFields" in i["metadata"] for i in theirs["items"])
    assert not any("managedFields" in i["metadata"] for i in ours["items"])
    made = kubectl(slow_sandbox, "create", "configmap", "get-managed", "-n", "llm", "--from-literal=a=b", get=False)
    assert made.returncode == 0, made.stderr
    plain = json.loads(llmctl(slow_sandbox, "cm", "get-managed", "-n", "llm", "-o", "json").stdout)
    full = json.loads(llmctl(slow_sandbox, "cm", "get-managed", "-n", "llm", "-o", "json",
                             "--show-managed-fields").stdout)
    assert "managedFields" not in plain["metadata"]
    assert [m["manager"] for m in full["metadata"]["managedFields"]] == ["kubectl-create"]


def test_nothing_found_unknown_type_and_missing_object(slow_sandbox: SandboxThread) -> None:
    ours, theirs = llmctl(slow_sandbox, "pods", "-n", "empty"), kubectl(slow_sandbox, "pods", "-n", "empty")
    assert ours.returncode == theirs.returncode == 0 and ours.stdout == theirs.stdout == ""
    assert ours.stderr.strip() == theirs.stderr.strip() == "No resources found in empty namespace."
    unknown = llmctl(slow_sandbox, "flurbs")
    assert unknown.returncode == 1 and 'doesn\'t have a resource type "flurbs"' in unknown.stderr
    missing = llmctl(slow_sandbox, "pod", "nope", "-n", "llm")
    assert missing.returncode == 1 and 'pods "nope" not found' in missing.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr


@pytest.mark.parametrize("args", [("",), ("pods", "ünïcode"), ("pods/x", "y"), ("pods,svc", "x"),
                                  ("pods", "x", "-A"), ("pods", "-o", "xml"), ("pö",)])
def test_bad_input_is_one_line_and_exit_2(slow_sandbox: SandboxThread, args: tuple[str, ...]) -> None:
    result = llmctl(slow_sandbox, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
