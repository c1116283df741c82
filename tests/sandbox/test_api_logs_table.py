"""pods/log (tail, follow, previous) and the Table that kubectl get prints."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client as k8s

from console.sandbox.podstatus import pod_status_reason
from console.sandbox.table import human_duration

from .conftest import DEPLOY, NS, ApiServer, pod
from .test_api_discovery import raw

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io," \
        "application/json"


def test_log_tail_and_previous(api_server: ApiServer, k8s_viewer: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_viewer)
    assert v1.read_namespaced_pod_log(f"{DEPLOY}-a", NS) == \
        "INFO starting vLLM\nINFO model loaded\nINFO serving on :8000\n"
    assert v1.read_namespaced_pod_log(f"{DEPLOY}-a", NS, tail_lines=1, container="vllm") == \
        "INFO serving on :8000\n"
    with pytest.raises(k8s.ApiException) as err:
        v1.read_namespaced_pod_log(f"{DEPLOY}-a", NS, previous=True)
    assert err.value.status == 400 and "previous terminated container" in json.loads(err.value.body)["message"]

    def crash() -> None:
        api_server.ctx.logs.append(NS, f"{DEPLOY}-b", "vllm", "RuntimeError: no kernel image is available")
        api_server.ctx.logs.restart(NS, f"{DEPLOY}-b", "vllm")
    api_server.call(crash)
    assert "no kernel image" in v1.read_namespaced_pod_log(f"{DEPLOY}-b", NS, previous=True)


def test_log_errors_name_the_problem(k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)
    with pytest.raises(k8s.ApiException) as err:
        v1.read_namespaced_pod_log(f"{DEPLOY}-c", NS)  # pending: no container started
    assert err.value.status == 400 and "is waiting to start" in json.loads(err.value.body)["message"]
    with pytest.raises(k8s.ApiException) as err:
        v1.read_namespaced_pod_log(f"{DEPLOY}-a", NS, container="nope")
    assert err.value.status == 400
    with pytest.raises(k8s.ApiException) as err:
        v1.read_namespaced_pod_log("ghost", NS)
    assert err.value.status == 404


def test_log_follow_streams_new_lines(api_server: ApiServer, k8s_admin: k8s.ApiClient) -> None:
    v1 = k8s.CoreV1Api(k8s_admin)

    def write_more() -> None:
        for i in range(3):
            time.sleep(0.1)
            api_server.call(api_server.ctx.logs.append, NS, f"{DEPLOY}-a", "vllm", f"request {i} done")
    resp = v1.read_namespaced_pod_log(f"{DEPLOY}-a", NS, follow=True, tail_lines=1, _preload_content=False)
    writer = threading.Thread(target=write_more)
    writer.start()
    lines: list[str] = []
    buffer = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buffer += chunk
        lines = buffer.decode().splitlines()
        if len(lines) >= 4:
            break
    resp.release_conn()
    writer.join()
    assert lines == ["INFO serving on :8000", "request 0 done", "request 1 done", "request 2 done"]


def _table(api_server: ApiServer, path: str, token: str | None = None) -> dict[str, Any]:
    status, ctype, body = raw(api_server, path, token or api_server.auth.viewer_token, accept=TABLE)
    assert status == 200 and ctype.startswith("application/json")
    return json.loads(body)


def test_pods_as_a_table(api_server: ApiServer) -> None:
    doc = _table(api_server, f"/api/v1/namespaces/{NS}/pods?limit=500")
    assert (doc["kind"], doc["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    columns = [(c["name"], c["priority"]) for c in doc["columnDefinitions"]]
    assert columns[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert ("IP", 1) in columns and ("Node", 1) in columns
    rows = {r["cells"][0]: r for r in doc["rows"]}
    assert rows[f"{DEPLOY}-a"]["cells"][1:4] == ["1/1", "Running", "0"]
    assert rows[f"{DEPLOY}-c"]["cells"][2] == "Pending"
    assert rows[f"{DEPLOY}-a"]["cells"][6] == "gpu-node-1"
    meta = rows[f"{DEPLOY}-a"]["object"]
    assert meta["kind"] == "PartialObjectMetadata" and meta["metadata"]["namespace"] == NS
    full = _table(api_server, f"/api/v1/namespaces/{NS}/pods/{DEPLOY}-a?includeObject=Object")
    assert full["rows"][0]["object"]["kind"] == "Pod"


def test_other_tables(api_server: ApiServer) -> None:
    deploy = _table(api_server, f"/apis/apps/v1/namespaces/{NS}/deployments")
    assert [c["name"] for c in deploy["columnDefinitions"] if c["priority"] == 0] == \
        ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert deploy["rows"][0]["cells"][:2] == [DEPLOY, "0/2"]
    hpa = _table(api_server, f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers")
    assert hpa["rows"][0]["cells"][1:4] == [f"Deployment/{DEPLOY}", "cpu: <unknown>/60%", 2]
    nodes = _table(api_server, "/api/v1/nodes", api_server.auth.admin_token)  # the view role has no nodes
    assert nodes["rows"][0]["cells"][:3] == ["gpu-node-1", "Ready", "<none>"]
    events = _table(api_server, f"/api/v1/namespaces/{NS}/events")
    assert events["rows"][0]["cells"][2:4] == ["ScalingReplicaSet", f"deployment/{DEPLOY}"]
    generic = _table(api_server, "/apis/apps/v1/daemonsets")
    assert generic["rows"] == [] and generic["columnDefinitions"][0]["name"] == "Name"


@pytest.mark.parametrize(("state", "extra", "expected"), [
    ({"running": {}}, {}, "Running"),
    ({"waiting": {"reason": "ContainerCreating"}}, {}, "ContainerCreating"),
    ({"waiting": {"reason": "CrashLoopBackOff"}}, {}, "CrashLoopBackOff"),
    ({"waiting": {"reason": "ImagePullBackOff"}}, {}, "ImagePullBackOff"),
    ({"terminated": {"reason": "OOMKilled", "exitCode": 137}}, {}, "OOMKilled"),
    ({"terminated": {"reason": "Completed", "exitCode": 0}}, {}, "Completed"),
    ({"terminated": {"exitCode": 3}}, {}, "ExitCode:3"),
    ({"running": {}}, {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "Terminating"),
])
def test_pod_status_column_like_kubectl(state: dict, extra: dict, expected: str) -> None:
    p = pod("p", state=state, restarts=2)
    p["metadata"].update(extra)
    reason, ready, restarts, _ = pod_status_reason(p)
    assert reason == expected and restarts == 2
    assert ready == (1 if expected in ("Running", "Terminating") else 0)


def test_ages_read_like_kubectl() -> None:
    assert [human_duration(s) for s in (5, 119, 150, 900, 3 * 3600 + 60, 50 * 3600, 400 * 86400)] == \
        ["5s", "119s", "2m30s", "15m", "3h1m", "2d2h", "400d"]
