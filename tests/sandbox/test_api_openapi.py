"""/openapi/v2 and /openapi/v3, generated from kubernetes-validate's schemas, read by real clients:
kubectl 1.20 (v2 as protobuf) and the current kubectl (v3) validate, explain and dry-run with them;
fieldValidation Strict/Warn/Ignore as kube-apiserver applies it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from console.sandbox import api_openapi
from console.sandbox.api_proto import fields_of
from console.sandbox.server import SandboxThread
from tests.conftest import current_kubectl, debian_kubectl

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: 1
  {extra}selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: c, image: "nginx:1.25", ports: [{{containerPort: 80}}]}}]
"""


def test_definitions_are_the_packages_schemas_and_complete() -> None:
    doc = api_openapi.v2()
    defs = doc["definitions"]
    dep = defs["io.k8s.api.apps.v1.Deployment"]
    assert dep["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    source = api_openapi.json_schemas()["io.k8s.api.apps.v1.DeploymentSpec"]
    assert defs["io.k8s.api.apps.v1.DeploymentSpec"]["description"] == source["description"]
    assert defs["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]["type"] == "integer"
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {"type": "string", "format": "int-or-string"}
    refs: set[str] = set()
    api_openapi._refs(defs, refs)
    assert refs <= set(defs)  # every $ref resolves inside the document
    assert not any(n.startswith("io.k8s.api.batch.") for n in defs)  # only what the sandbox serves
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert {p["name"] for p in patch["parameters"]} >= {"dryRun", "fieldValidation", "fieldManager", "force"}


def test_v2_protobuf_is_gnostics_document() -> None:
    raw = api_openapi.v2_protobuf()
    top = {n: v for n, _, v in fields_of(raw)}
    assert top[1] == b"2.0"
    names = [dict((n, v) for n, _, v in fields_of(bytes(entry)))[1].decode()
             for n, _, entry in fields_of(bytes(top[9])) if n == 1]
    assert names == list(api_openapi.v2()["definitions"])


def test_unknown_fields_follow_the_schema() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "labels": {"a": "b"}},
           "spec": {"bogus": 1, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}}
    assert api_openapi.unknown_fields("apps/v1", "Deployment", obj) == [
        "spec.bogus", "spec.template.spec.containers[0].imagee"]
    assert api_openapi.unknown_fields("monitoring.coreos.com/v1", "ServiceMonitor", {"x": 1}) == []


def kubectl(binary: str, sandbox: SandboxThread, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--kubeconfig", sandbox.info.kubeconfig, "--request-timeout=20s", *args],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("which", ["current", "debian"])
def test_kubectl_validates_explains_and_dry_runs(sandbox: SandboxThread, which: str, tmp_path: Path) -> None:
    binary = current_kubectl() if which == "current" else debian_kubectl()
    name = f"openapi-{which}"
    good = tmp_path / "good.yaml"
    good.write_text(DEPLOYMENT.format(name=name, extra=""))
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEPLOYMENT.format(name=f"{name}-bad", extra="bogus: 1\n  "))
    done = kubectl(binary, sandbox, "apply", "-f", str(good), "--dry-run=server")
    assert done.returncode == 0 and "(server dry run)" in done.stdout, done.stderr
    done = kubectl(binary, sandbox, "apply", "-f", str(good))
    assert done.returncode == 0 and f"deployment.apps/{name} created" in done.stdout, done.stderr
    done = kubectl(binary, sandbox, "create", "-f", str(bad))
    assert done.returncode == 1 and 'unknown field "' in done.stderr and "bogus" in done.stderr
    done = kubectl(binary, sandbox, "explain", "deployment.spec.replicas")
    assert done.returncode == 0 and "replicas" in done.stdout and "<integer>" in done.stdout, done.stderr
    done = kubectl(binary, sandbox, "diff", "-f", str(good))
    assert done.returncode == 0, done.stderr


def test_v3_root_and_group_documents(sandbox: SandboxThread) -> None:
    done = kubectl(current_kubectl(), sandbox, "get", "--raw", "/openapi/v3")
    root = json.loads(done.stdout)["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/autoscaling/v2"} <= set(root)
    done = kubectl(current_kubectl(), sandbox, "get", "--raw", root["apis/apps/v1"]["serverRelativeURL"])
    doc = json.loads(done.stdout)
    assert doc["openapi"].startswith("3.") and "io.k8s.api.apps.v1.Deployment" in doc["components"]["schemas"]
    assert "io.k8s.api.core.v1.Service" not in doc["components"]["schemas"]
    done = kubectl(current_kubectl(), sandbox, "get", "--raw", "/openapi/v3/apis/batch/v1")
    assert done.returncode == 1 and "NotFound" in done.stderr


def test_field_validation_directives(sandbox: SandboxThread) -> None:
    cm = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fv"}, "data": {"a": "b"},
                     "bogus": True})
    done = kubectl(current_kubectl(), sandbox, "create", "-f", "-", "--validate=strict", stdin=cm)
    assert done.returncode == 1 and 'strict decoding error: unknown field "bogus"' in done.stderr
    done = kubectl(current_kubectl(), sandbox, "create", "-f", "-", "--validate=warn", stdin=cm)
    assert done.returncode == 0 and 'Warning: unknown field "bogus"' in done.stderr
    done = kubectl(current_kubectl(), sandbox, "replace", "-f", "-", "--validate=false", stdin=cm)
    assert done.returncode == 0 and "Warning" not in done.stderr


def test_field_validation_of_merge_patches(sandbox: SandboxThread) -> None:
    # kubectl patch sends no fieldValidation: the server's default, Warn, answers a Warning per unknown field.
    kubectl(current_kubectl(), sandbox, "create", "configmap", "fvp", "-n", "default", "--from-literal=a=b")
    done = kubectl(current_kubectl(), sandbox, "patch", "configmap", "fvp", "-n", "default", "--type=merge",
                   "-p", '{"data": {"c": "d"}, "bogus": 1}')
    assert done.returncode == 0 and 'Warning: unknown field "bogus"' in done.stderr, done.stderr
    done = kubectl(current_kubectl(), sandbox, "patch", "deployment", "claude-inference", "-n", "llm",
                   "-p", '{"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "inference"}], '
                         '"containers": [{"name": "inference", "bogusField": 1}]}}}}')
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        'Warning: unknown field "spec.template.spec.containers[0].bogusField"']  # the directive is no field
    done = kubectl(current_kubectl(), sandbox, "patch", "configmap", "fvp", "-n", "default", "--type=merge",
                   "-p", '{"data": {"c": "e"}}')
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
