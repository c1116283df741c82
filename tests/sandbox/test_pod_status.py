"""The sandbox's own READY / STATUS / RESTARTS cells, case by case against kube-apiserver's printPod."""

from __future__ import annotations

from typing import Any

import pytest

from console.sandbox.podstatus import pod_cells
from console.sandbox.table import rows

T0, T1 = "2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z"


def status(state: dict[str, Any], *, ready: bool = False, restarts: int = 0, name: str = "app",
           last: str | None = None, started: bool | None = None) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": name, "state": state, "ready": ready, "restartCount": restarts}
    if last:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last}}
    if started is not None:
        cs["started"] = started
    return cs


def make_pod(containers: list[dict[str, Any]], inits: list[dict[str, Any]] | None = None, *,
             init_specs: list[dict[str, Any]] | None = None, phase: str = "Pending",
             conditions: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": c["name"]} for c in containers] or [{"name": "app"}]}
    if init_specs is not None:
        spec["initContainers"] = init_specs
    st: dict[str, Any] = {"phase": phase, "containerStatuses": containers,
                          "conditions": [{"type": k, "status": v} for k, v in (conditions or {}).items()]}
    if inits is not None:
        st["initContainerStatuses"] = inits
    return {"metadata": {"name": "p", "namespace": "llm", **meta}, "spec": spec, "status": st}


WAIT_INIT = {"waiting": {"reason": "PodInitializing"}}
TWO_INITS = [{"name": "fetch"}, {"name": "warm"}]


@pytest.mark.parametrize(("inits", "expected"), [
    ([status({"running": {}}, name="fetch"), status(WAIT_INIT, name="warm")], "Init:0/2"),
    ([status({"terminated": {"exitCode": 0}}, name="fetch"), status({"running": {}}, name="warm")], "Init:1/2"),
    ([status({"terminated": {"exitCode": 1, "reason": "Error"}}, name="fetch")], "Init:Error"),
    ([status({"terminated": {"exitCode": 137, "signal": 9}}, name="fetch")], "Init:Signal:9"),
    ([status({"terminated": {"exitCode": 2}}, name="fetch")], "Init:ExitCode:2"),
    ([status({"waiting": {"reason": "CrashLoopBackOff"}}, name="fetch")], "Init:CrashLoopBackOff"),
])
def test_init_containers(inits: list[dict[str, Any]], expected: str) -> None:
    pod = make_pod([status(WAIT_INIT)], inits, init_specs=TWO_INITS)
    assert pod_cells(pod).status == expected


def test_init_restarts_count_until_initialized_then_only_app_containers() -> None:
    inits = [status({"waiting": {"reason": "CrashLoopBackOff"}}, name="fetch", restarts=3, last=T1)]
    pod = make_pod([status(WAIT_INIT)], inits, init_specs=TWO_INITS)
    cells = pod_cells(pod)
    assert (cells.restarts, cells.last_restart) == (3, T1)
    done = [status({"terminated": {"exitCode": 0, "reason": "Completed"}}, name="fetch", restarts=3, last=T1)]
    pod = make_pod([status({"running": {}}, ready=True, restarts=1, last=T0)], done, init_specs=TWO_INITS[:1],
                   phase="Running", conditions={"Initialized": "True", "Ready": "True"})
    cells = pod_cells(pod)
    assert (cells.status, cells.ready, cells.restarts, cells.last_restart) == ("Running", 1, 1, T0)


def test_a_sidecar_counts_towards_ready_and_total() -> None:
    sidecar = {"name": "proxy", "restartPolicy": "Always"}
    inits = [status({"running": {}}, name="proxy", ready=True, started=True, restarts=2, last=T1)]
    pod = make_pod([status({"running": {}}, ready=True)], inits, init_specs=[sidecar], phase="Running",
                   conditions={"Initialized": "True", "Ready": "True"})
    cells = pod_cells(pod)
    assert (cells.status, cells.ready, cells.total, cells.restarts, cells.last_restart) == ("Running", 2, 2, 2, T1)
    [row] = rows("pods", [pod])
    assert row["cells"][1] == "2/2" and row["cells"][3].startswith("2 (")


def test_the_first_container_decides_and_completed_with_a_runner_is_running() -> None:
    both = [status({"waiting": {"reason": "CrashLoopBackOff"}}, name="a"),
            status({"running": {}}, ready=True, name="b")]
    assert pod_cells(make_pod(both, phase="Running")).status == "CrashLoopBackOff"
    done_and_running = [status({"terminated": {"exitCode": 0, "reason": "Completed"}}, name="a"),
                        status({"running": {}}, ready=True, name="b")]
    assert pod_cells(make_pod(done_and_running, phase="Running", conditions={"Ready": "True"})).status == "Running"
    assert pod_cells(make_pod(done_and_running, phase="Running", conditions={"Ready": "False"})).status == "NotReady"


def test_pod_level_reasons() -> None:
    gated = make_pod([])
    gated["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
    assert pod_cells(gated).status == "SchedulingGated"
    evicted = make_pod([], phase="Failed")
    evicted["status"]["reason"] = "Evicted"
    assert pod_cells(evicted).status == "Evicted"
    lost = make_pod([status({"running": {}}, ready=True)], phase="Running", deletionTimestamp=T0)
    lost["status"]["reason"] = "NodeLost"
    assert pod_cells(lost).status == "Unknown"
    finished = make_pod([status({"terminated": {"exitCode": 0, "reason": "Completed"}})], phase="Succeeded",
                        deletionTimestamp=T0)
    assert pod_cells(finished).status == "Completed", "a finished pod being deleted is not Terminating"
    no_phase = make_pod([])
    del no_phase["status"]["phase"]
    assert pod_cells(no_phase).status == "Pending"
