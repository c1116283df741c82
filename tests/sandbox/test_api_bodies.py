"""Malformed request bodies get the 400 / 422 ``Status`` a real kube-apiserver (v1.30) gives, never a 500.

What the real server does, and so the sandbox: a create or update body is decoded into the typed Go
object first, and a JSON type that does not fit a known field is a 400 BadRequest ``<Kind> in version
"<v>" cannot be handled as a <Kind>: json: cannot unmarshal ...``; a patch whose *result* does not
decode is a 422 Invalid with one cause on the field ``patch``; the Prometheus Operator's custom
resources are checked against their OpenAPI schema (422, ``... in body must be of type object``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import DEPLOY, NS, ApiServer, deployment
from .test_api_discovery import raw

DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
PATCH = "application/merge-patch+json"


def send(server: ApiServer, method: str, path: str, body: bytes | str | Any,
         content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
    code, ctype, out = raw(server, path, server.auth.admin_token, method=method, body=data,
                           content_type=content_type)
    assert ctype.startswith("application/json"), (code, out[:200])
    return code, json.loads(out)


def assert_status(code: int, body: dict[str, Any], want: int, reason: str, *fragments: str) -> None:
    assert code == want, (code, body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1" and body["status"] == "Failure", body
    assert body["code"] == want and body["reason"] == reason, body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body["message"])


def alive(server: ApiServer) -> None:
    assert raw(server, "/healthz")[0] == 200


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``base`` with the dotted ``path`` set to ``value``."""
    obj = json.loads(json.dumps(base))
    *head, last = path.split(".")
    cur = obj
    for part in head:
        cur = cur.setdefault(part, {})
    cur[last] = value
    return obj


@pytest.mark.parametrize(("path", "value", "fragment"), [
    ("spec", 5, "cannot unmarshal number into Go struct field Deployment.spec of type v1.DeploymentSpec"),
    ("spec.replicas", "x", "cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ("spec.replicas", 2.5, "cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas of "
                           "type int32"),
    ("spec.replicas", 2**40, "into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ("spec.paused", "yes", "cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool"),
    ("metadata", 5, "cannot unmarshal number into Go struct field Deployment.metadata of type v1.ObjectMeta"),
    ("metadata", [], "cannot unmarshal array into Go struct field Deployment.metadata of type v1.ObjectMeta"),
    ("metadata.labels", {"a": 1}, "Go struct field ObjectMeta.metadata.labels of type string"),
    ("spec.template.spec.containers", {"name": "x"}, "Go struct field PodSpec.spec.template.spec.containers of "
                                                     "type []v1.Container"),
    ("spec.template.spec.containers", [7], "Go struct field PodSpec.spec.template.spec.containers of type "
                                           "v1.Container"),
    ("spec.strategy.rollingUpdate.maxSurge", True, "spec.strategy.rollingUpdate.maxSurge of type "
                                                   "intstr.IntOrString"),
])
def test_wrong_json_types_are_400_with_the_go_decoders_words(api_server: ApiServer, path: str, value: Any,
                                                             fragment: str) -> None:
    body = with_(deployment("typed"), path, value)
    code, status = send(api_server, "POST", DEPLOYMENTS, body)
    assert_status(code, status, 400, "BadRequest", 'Deployment in version "v1" cannot be handled as a Deployment',
                  fragment)
    code, status = send(api_server, "PUT", f"{DEPLOYMENTS}/{DEPLOY}", with_(deployment(), path, value))
    assert_status(code, status, 400, "BadRequest", fragment)
    alive(api_server)


@pytest.mark.parametrize(("body", "fragment"), [
    (b"{not json", "json parse error"),
    (b'{"a": 1', "json parse error"),
    (b"[1, 2]", "cannot unmarshal array into Go value of type struct"),
    (b'"text"', "cannot unmarshal string into Go value of type struct"),
    (b'{"kind": 5}', "cannot unmarshal number into Go struct field .kind of type string"),
    (b'{"apiVersion": ["apps/v1"]}', "cannot unmarshal array into Go struct field .apiVersion of type string"),
    (b'{"spec": NaN}', "json parse error"),
    (b'{"spec": {"replicas": Infinity}}', "json parse error"),
    (b'{"spec": {"replicas": 1e400}}', "json parse error"),
    (b"\xef\xbb\xbf{}", "json parse error"),
])
def test_bodies_that_are_not_a_json_object_are_400(api_server: ApiServer, body: bytes, fragment: str) -> None:
    code, status = send(api_server, "POST", DEPLOYMENTS, body)
    assert_status(code, status, 400, "BadRequest", fragment)
    alive(api_server)


def test_unknown_api_version_or_kind_is_400(api_server: ApiServer) -> None:
    code, status = send(api_server, "POST", DEPLOYMENTS, {**deployment("x"), "apiVersion": "apps/v9",
                                                          "kind": "Deployment"})
    assert_status(code, status, 400, "BadRequest", 'no kind "Deployment" is registered for version "apps/v9"')
    code, status = send(api_server, "POST", DEPLOYMENTS, {**deployment("x"), "apiVersion": "v1", "kind": "Pod"})
    assert_status(code, status, 400, "BadRequest",
                  "the API version in the data (v1) does not match the expected API version (apps/v1)")
    code, status = send(api_server, "POST", DEPLOYMENTS, {**deployment("x"), "apiVersion": "apps/v1",
                                                          "kind": "Gadget"})
    assert_status(code, status, 400, "BadRequest", 'no kind "Gadget" is registered for version "apps/v1"')


@pytest.mark.parametrize("depth", [101, 5_000, 200_000])
def test_deeply_nested_bodies_are_400_not_a_recursion_error(api_server: ApiServer, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = '{"metadata": {"name": "deep"}, "spec": {"x": ' + nested + "}}"
    code, status = send(api_server, "POST", DEPLOYMENTS, body)
    assert_status(code, status, 400, "BadRequest", "exceeded max depth")
    code, status = send(api_server, "PATCH", f"{DEPLOYMENTS}/{DEPLOY}", '{"spec": {"x": ' + nested + "}}", PATCH)
    assert_status(code, status, 400, "BadRequest", "exceeded max depth")
    alive(api_server)


def test_nesting_within_the_limit_is_accepted(api_server: ApiServer) -> None:
    body = with_(deployment("nested"), "metadata.labels", {"ok": "yes"})
    body["spec"]["template"]["spec"]["containers"][0]["unknownField"] = json.loads("[" * 80 + "]" * 80)
    code, status = send(api_server, "POST", DEPLOYMENTS, body)
    assert code == 201, status


def test_a_patch_whose_result_does_not_decode_is_422_on_the_field_patch(api_server: ApiServer) -> None:
    for content_type, body in ((PATCH, {"spec": 5}),
                               ("application/strategic-merge-patch+json", {"spec": {"replicas": "x"}}),
                               ("application/json-patch+json", [{"op": "replace", "path": "/spec/paused",
                                                                 "value": "yes"}])):
        code, status = send(api_server, "PATCH", f"{DEPLOYMENTS}/{DEPLOY}", body, content_type)
        assert_status(code, status, 422, "Invalid", "patch: Invalid value:", "cannot unmarshal")
        assert [c["field"] for c in status["details"]["causes"]] == ["patch"]
        assert status["details"]["causes"][0]["reason"] == "FieldValueInvalid"
    # nothing changed
    code, _ = send(api_server, "PATCH", f"{DEPLOYMENTS}/{DEPLOY}", {}, PATCH)
    assert code == 200


@pytest.mark.parametrize(("content_type", "body", "want"), [
    ("application/json-patch+json", {"op": "add"}, 400),
    ("application/json-patch+json", [5], 400),
    ("application/json-patch+json", [{"op": "jump", "path": "/spec"}], 422),
    ("application/json-patch+json", [{"op": "add", "path": 5, "value": 1}], 422),
    ("application/json-patch+json", [{"op": "add", "path": "/spec/replicas"}], 422),
    ("application/json-patch+json", [{"op": "add", "path": "spec", "value": 1}], 422),
    ("application/json-patch+json", [{"op": "remove", "path": "/nope/deeper"}], 422),
    ("application/json-patch+json", [{"op": "copy", "from": "/spec", "path": "/spec/template/spec/x"}] * 40, 422),
    ("application/merge-patch+json", [1], 400),
    ("application/strategic-merge-patch+json", "x", 400),
    ("application/strategic-merge-patch+json", {"spec": {"$patch": 5}}, 400),
])
def test_malformed_patches_are_400_or_422(  # 400: not a patch at all; 422: a patch that does not apply
        api_server: ApiServer, content_type: str, body: Any, want: int) -> None:
    code, status = send(api_server, "PATCH", f"{DEPLOYMENTS}/{DEPLOY}", body, content_type)
    assert_status(code, status, want, {400: "BadRequest", 422: "Invalid"}[want])
    alive(api_server)


def test_json_patch_operations_are_capped_at_10000(api_server: ApiServer) -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Deployment"}] * 10_001
    code, status = send(api_server, "PATCH", f"{DEPLOYMENTS}/{DEPLOY}", ops, "application/json-patch+json")
    assert_status(code, status, 413, "RequestEntityTooLarge",
                  "The allowed maximum operations in a JSON patch is 10000, got 10001")


def test_subresources_and_options_are_typed_too(api_server: ApiServer) -> None:
    scale = f"{DEPLOYMENTS}/{DEPLOY}/scale"
    code, status = send(api_server, "PUT", scale, {"metadata": {"name": DEPLOY}, "spec": {"replicas": "x"}})
    assert_status(code, status, 400, "BadRequest", "ScaleSpec.spec.replicas of type int32")
    code, status = send(api_server, "PATCH", scale, {"spec": {"replicas": "x"}}, PATCH)
    assert_status(code, status, 422, "Invalid", "patch: Invalid value:")
    code, status = send(api_server, "PUT", f"{DEPLOYMENTS}/{DEPLOY}/status", with_(deployment(), "status", 5))
    assert_status(code, status, 400, "BadRequest", "Deployment.status of type v1.DeploymentStatus")
    code, status = send(api_server, "DELETE", f"{DEPLOYMENTS}/{DEPLOY}", {"preconditions": 5})
    assert_status(code, status, 400, "BadRequest", "DeleteOptions.preconditions of type v1.Preconditions")
    code, status = send(api_server, "DELETE", f"{DEPLOYMENTS}/{DEPLOY}", {"gracePeriodSeconds": "soon"})
    assert_status(code, status, 400, "BadRequest", "DeleteOptions.gracePeriodSeconds of type int64")
    code, status = send(api_server, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        {"spec": 5})
    assert_status(code, status, 400, "BadRequest", "SelfSubjectAccessReview.spec of type "
                                                   "v1.SelfSubjectAccessReviewSpec")
    code, status = send(api_server, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        {"spec": {"resourceAttributes": {"verb": ["get"]}}})
    assert_status(code, status, 400, "BadRequest", "ResourceAttributes.spec.resourceAttributes.verb of type string")
    assert send(api_server, "GET", f"{DEPLOYMENTS}/{DEPLOY}", b"")[0] == 200  # still there


def test_custom_resources_answer_with_their_openapi_schema(api_server: ApiServer) -> None:
    path = f"/apis/monitoring.coreos.com/v1/namespaces/{NS}/prometheusrules"
    body = {"metadata": {"name": "rules"}, "spec": {"groups": "often"}}
    code, status = send(api_server, "POST", path, body)
    assert_status(code, status, 422, "Invalid",
                  'PrometheusRule.monitoring.coreos.com "rules" is invalid: spec.groups: Invalid value: "string": '
                  'spec.groups in body must be of type array: "string"')
    assert status["details"]["causes"][0]["field"] == "spec.groups"
    code, status = send(api_server, "POST", path, {"metadata": {"name": "rules"},
                                                   "spec": {"groups": [{"name": "g", "rules": [{"expr": {}}]}]}})
    assert_status(code, status, 422, "Invalid", "spec.groups[0].rules[0].expr")


def test_values_the_controllers_would_trip_on_are_422(api_server: ApiServer) -> None:
    cases = [
        ("spec.strategy.rollingUpdate.maxSurge", "lots", "spec.strategy.rollingUpdate.maxSurge"),
        ("spec.template.spec.containers", [{"name": "a", "image": "i", "resources": {"limits": {"cpu": "1.2.3"}}}],
         "quantities must match the regular expression"),
        ("spec.template.spec.containers", [{"name": "a", "image": "i",
                                            "resources": {"limits": {"nvidia.com/gpu": "0.5"}}}],
         "must be an integer"),
        ("spec.template.spec.containers", [{"name": "a", "image": "i",
                                            "resources": {"limits": {"nvidia.com/gpu": "-1"}}}],
         "must be greater than or equal to 0"),
        ("metadata.labels", {"bad key!": "x"}, "metadata.labels"),
    ]
    for path, value, fragment in cases:
        code, status = send(api_server, "POST", DEPLOYMENTS, with_(deployment("odd"), path, value))
        assert code in (400, 422), (path, status)
        assert fragment in status["message"], (fragment, status)
    alive(api_server)


def test_json_numbers_for_quantities_are_stored_as_strings(api_server: ApiServer) -> None:
    body = deployment("numeric")
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 1, "cpu": 2}}
    code, made = send(api_server, "POST", DEPLOYMENTS, body)
    assert code == 201, made
    assert made["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "1",
                                                                                          "cpu": "2"}


def test_lone_surrogates_become_replacement_characters(api_server: ApiServer) -> None:
    body = json.dumps(deployment("surrogate")).replace('"labels": {"app": "surrogate"}',
                                                      '"labels": {"app": "surrogate"}, '
                                                      '"annotations": {"note": "a\\ud800b"}', 1)
    code, made = send(api_server, "POST", DEPLOYMENTS, body)
    assert code == 201, made
    assert made["metadata"]["annotations"]["note"] == "a\ufffdb"
