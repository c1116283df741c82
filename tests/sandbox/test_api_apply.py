"""Server-side apply and managedFields, with the official Python client and raw requests: create by
apply, ownership per manager, conflicts as a 409 listing the fields, force, removal of fields a manager
stops applying, and Update entries for every other write."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.error import HTTPError

import pytest
import yaml
from kubernetes import client as k8s

from console.sandbox.apply import from_fields_v1, leaves, to_fields_v1

from .conftest import NS, ApiServer

PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/web"


def config(replicas: int | None = 1, image: str = "nginx:1.25", labels: dict[str, str] | None = None) -> dict:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": image, "ports": [{"containerPort": 80}]}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    meta: dict[str, Any] = {"name": "web", "namespace": NS}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def send(server: ApiServer, method: str, path: str, body: Any, content_type: str, query: str = "",
         agent: str = "test-agent/1.0") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else yaml.safe_dump(body).encode()
    req = urllib.request.Request(f"{server.url}{path}{'?' + query if query else ''}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {server.auth.admin_token}",
                                          "Content-Type": content_type, "User-Agent": agent})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except HTTPError as e:
        return e.code, json.loads(e.read())


def apply(server: ApiServer, body: Any, manager: str | None = "mgr", force: bool = False) -> tuple[int, dict]:
    query = "&".join(q for q in (f"fieldManager={manager}" if manager else "", "force=true" if force else "") if q)
    return send(server, "PATCH", PATH, body, "application/apply-patch+yaml", query)


def managers(obj: dict) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    return {(e["manager"], e["operation"]): from_fields_v1(e["fieldsV1"]) for e in obj["metadata"]["managedFields"]}


def test_apply_creates_and_records_the_applied_fields(api_server: ApiServer) -> None:
    status, obj = apply(api_server, config())
    assert status == 201 and obj["spec"]["replicas"] == 1
    entry = obj["metadata"]["managedFields"][0]
    assert (entry["manager"], entry["operation"], entry["apiVersion"], entry["fieldsType"]) == \
        ("mgr", "Apply", "apps/v1", "FieldsV1")
    fields = entry["fieldsV1"]
    assert fields["f:spec"]["f:replicas"] == {} and fields["f:spec"]["f:selector"] == {}  # an atomic map
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"c"}']
    assert container["."] == {} and container["f:image"] == {}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in container["f:ports"]  # keys defaulted
    status, again = apply(api_server, config())
    assert status == 200 and again["metadata"]["resourceVersion"] >= obj["metadata"]["resourceVersion"]


def test_apply_needs_a_field_manager(api_server: ApiServer) -> None:
    status, body = apply(api_server, config(), manager=None)
    assert status == 422 and body["details"]["kind"] == "PatchOptions"
    assert "fieldManager: Required value: is required for apply patch" in body["message"]


def test_conflict_lists_the_fields_and_force_takes_them(api_server: ApiServer) -> None:
    assert apply(api_server, config())[0] == 201
    status, body = apply(api_server, config(replicas=3, image="nginx:1.27"), manager="other")
    assert status == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Apply failed with 2 conflicts: conflict with "mgr" using apps/v1: .spec.replicas\n'
                               'conflict with "mgr" using apps/v1: .spec.template.spec.containers[name="c"].image')
    assert {c["field"] for c in body["details"]["causes"]} == {
        ".spec.replicas", '.spec.template.spec.containers[name="c"].image'}
    assert {c["reason"] for c in body["details"]["causes"]} == {"FieldManagerConflict"}
    # the same values are shared, not a conflict
    assert apply(api_server, config(), manager="other")[0] == 200
    status, obj = apply(api_server, config(replicas=3), manager="other", force=True)
    assert status == 200 and obj["spec"]["replicas"] == 3
    owners = managers(obj)
    assert ("f:spec", "f:replicas") in owners[("other", "Apply")]
    assert ("f:spec", "f:replicas") not in owners[("mgr", "Apply")]


def test_fields_no_longer_applied_are_removed_unless_someone_else_owns_them(api_server: ApiServer) -> None:
    assert apply(api_server, config(labels={"a": "1", "b": "2"}))[0] == 201
    assert apply(api_server, config(labels={"b": "2"}), manager="keeper")[0] == 200
    status, obj = apply(api_server, config(labels={}))
    assert status == 200 and obj["metadata"]["labels"] == {"b": "2"}  # "a" removed, "b" kept by keeper


def test_other_writes_are_update_entries(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    assert apply(api_server, config())[0] == 201
    patch = {"spec": {"replicas": 4}}
    status, obj = send(api_server, "PATCH", PATH, json.dumps(patch).encode(), "application/merge-patch+json",
                       "fieldManager=scaler")
    assert status == 200
    owners = managers(obj)
    assert owners[("scaler", "Update")] == {("f:spec", "f:replicas")}
    assert ("f:spec", "f:replicas") not in owners[("mgr", "Apply")]  # an update takes ownership
    status, body = apply(api_server, config(replicas=1))
    assert status == 409 and 'conflict with "scaler"' in body["message"]
    # without fieldManager the manager is the User-Agent's product
    dep = k8s.AppsV1Api(k8s_admin).patch_namespaced_deployment("web", NS, {"metadata": {"labels": {"x": "y"}}})
    assert any(e.manager == "OpenAPI-Generator" and e.operation == "Update" for e in dep.metadata.managed_fields)
    created = k8s.CoreV1Api(k8s_admin).create_namespaced_config_map(
        NS, {"metadata": {"name": "cm"}, "data": {"a": "b"}}, field_manager="maker")
    assert [(e.manager, e.operation) for e in created.metadata.managed_fields] == [("maker", "Update")]


def test_apply_dry_run_changes_nothing(api_server: ApiServer) -> None:
    assert apply(api_server, config())[0] == 201
    status, obj = send(api_server, "PATCH", PATH, config(replicas=7), "application/apply-patch+yaml",
                       "fieldManager=mgr&dryRun=All")
    assert status == 200 and obj["spec"]["replicas"] == 7
    stored = api_server.call(lambda: api_server.ctx.store.get("deployments", NS, "web"))
    assert stored["spec"]["replicas"] == 1


@pytest.mark.parametrize(("body", "code", "text"), [
    (b"spec: [", 400, "error decoding YAML"),
    (b"- 1\n- 2\n", 400, "must be an object"),
])
def test_bad_apply_bodies(api_server: ApiServer, body: bytes, code: int, text: str) -> None:
    status, out = apply(api_server, body)
    assert status == code and text in out["message"]


def test_unknown_fields_in_an_apply_are_rejected(api_server: ApiServer) -> None:
    bad = config()
    bad["spec"]["bogus"] = 1
    status, out = apply(api_server, bad)
    assert status == 400 and out["message"] == 'strict decoding error: unknown field "spec.bogus"'


def test_fields_v1_round_trip() -> None:
    paths = set(leaves(config(), None))
    assert from_fields_v1(to_fields_v1(paths)) == paths


def test_a_resource_version_in_the_configuration_is_a_precondition(api_server: ApiServer) -> None:
    status, obj = apply(api_server, config())
    stale = config(replicas=2)
    stale["metadata"]["resourceVersion"] = "1"
    status, body = apply(api_server, stale)
    assert status == 409 and body["reason"] == "Conflict" and "the object has been modified" in body["message"]
    fresh = config(replicas=2)
    fresh["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
    assert apply(api_server, fresh)[0] == 200


def test_a_no_op_apply_changes_nothing(api_server: ApiServer) -> None:
    import time

    status, first = apply(api_server, config())
    time.sleep(1.1)  # managedFields times have second precision
    status, again = apply(api_server, config())
    assert status == 200 and again["metadata"]["managedFields"] == first["metadata"]["managedFields"]
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
