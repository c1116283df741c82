"""Faults produce the symptoms an operator would see on a real cluster, and clearing them heals it."""

from __future__ import annotations

import pytest

from console.sandbox import faults
from console.sandbox.controllers.nodes import UNREACHABLE
from console.sandbox.errors import ApiError
from console.sandbox.store import Obj

from .conftest import DEPLOY, NS, Cluster, condition, rollout_done, wait_for


def _state(pod: Obj) -> dict:
    return ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]


def _waiting(pod: Obj) -> str | None:
    return (_state(pod).get("state") or {}).get("waiting", {}).get("reason")


def _new_pods(c: Cluster, tag: str) -> list[Obj]:
    return [p for p in c.pods() if p["spec"]["containers"][0]["image"].endswith(tag)]


async def test_node_loss_evicts_and_reschedules(cluster: Cluster) -> None:
    c = cluster
    lost = [p["metadata"]["name"] for p in c.pods() if p["spec"]["nodeName"] == "gpu-node-1"]
    assert lost, "the scenario places a claude-inference pod on gpu-node-1"
    result = faults.apply_fault(c.ctx, "node-loss", None)
    assert result["applied"] == "node-loss" and result["target"] == "gpu-node-1" and result["message"]
    node = await wait_for(lambda: (n := c.store.get("nodes", None, "gpu-node-1"))["spec"].get("taints") and n,
                          what="taints")
    assert condition(node, "Ready")["status"] == "Unknown"
    assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {(UNREACHABLE, "NoSchedule"),
                                                                           (UNREACHABLE, "NoExecute")}
    await wait_for(lambda: c.deployment()["status"].get("availableReplicas") == 1, what="pod marked not ready")
    await wait_for(lambda: all(c.store.try_get("pods", NS, n) is None for n in lost), what="eviction")
    d = await wait_for(lambda: rollout_done(c.deployment()) and c.deployment(), what="replacement Ready")
    assert all(p["spec"]["nodeName"] != "gpu-node-1" for p in c.pods())
    assert d["status"]["availableReplicas"] == 2
    assert any(e["reason"] == "TaintManagerEviction" for e in c.events())
    assert faults.clear_faults(c.ctx) == {"cleared": ["node-loss"]}
    node = await wait_for(lambda: not (n := c.store.get("nodes", None, "gpu-node-1"))["spec"].get("taints") and n,
                          what="taints removed")
    assert condition(node, "Ready")["status"] == "True"


async def test_oom_kills_repeatedly_until_cleared(cluster: Cluster) -> None:
    c = cluster
    faults.apply_fault(c.ctx, "oom", "claude-inference")
    assert c.ctx.faults.active == {"oom": "claude-inference"}
    pods = await wait_for(lambda: [p for p in c.pods() if _state(p).get("restartCount", 0) >= 2], what="2 OOM kills")
    term = _state(pods[0])["lastState"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137)
    assert _waiting(pods[0]) in ("CrashLoopBackOff", None)
    assert all(_state(p).get("restartCount", 0) == 0 for p in c.pods("claude-short-queue"))
    faults.clear_faults(c.ctx)
    await wait_for(lambda: all(condition(p, "Ready")["status"] == "True" for p in c.pods()), timeout=10,
                   what="pods Ready again after clear")


async def test_cuda_too_new_crashloops_with_the_driver_error_and_clear_rolls_back(cluster: Cluster) -> None:
    c = cluster
    before = c.deployment()["spec"]["template"]["spec"]["containers"][0]["image"]
    result = faults.apply_fault(c.ctx, "cuda-too-new", None)
    assert "580.65.06" in result["message"]
    assert c.deployment()["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v2.0.0-cuda13")
    [pod] = await wait_for(lambda: [p for p in _new_pods(c, "v2.0.0-cuda13") if _waiting(p) == "CrashLoopBackOff"],
                           what="CrashLoopBackOff")
    assert _state(pod)["restartCount"] >= 1
    assert _state(pod)["lastState"]["terminated"]["exitCode"] == 1
    assert "back-off 10s restarting failed container=inference" in _state(pod)["state"]["waiting"]["message"]
    log = c.ctx.logs.lines(NS, pod["metadata"]["name"], "inference")
    assert "RuntimeError: CUDA error: CUDA driver version is insufficient for CUDA runtime version" in log
    assert any(e["message"].startswith("Back-off restarting failed container inference in pod ")
               and e["type"] == "Warning" for e in c.events("BackOff"))
    assert c.deployment()["status"]["availableReplicas"] == 2, "old pods keep serving (maxUnavailable 0)"
    assert faults.clear_faults(c.ctx) == {"cleared": ["cuda-too-new"]}
    assert c.deployment()["spec"]["template"]["spec"]["containers"][0]["image"] == before
    await wait_for(lambda: rollout_done(c.deployment()) and not _new_pods(c, "v2.0.0-cuda13"), what="rolled back")


async def test_arch_missing_logs_no_kernel_image(cluster: Cluster) -> None:
    c = cluster
    faults.apply_fault(c.ctx, "arch-missing", f"{NS}/{DEPLOY}")
    [pod] = await wait_for(lambda: [p for p in _new_pods(c, "v1.2.0-sm90") if _waiting(p) == "CrashLoopBackOff"],
                           what="CrashLoopBackOff")
    log = c.ctx.logs.lines(NS, pod["metadata"]["name"], "inference")
    assert "RuntimeError: CUDA error: no kernel image is available for execution on the device" in log


async def test_image_pull_error_and_recorded_only_faults(cluster: Cluster) -> None:
    c = cluster
    faults.apply_fault(c.ctx, "image-pull-error", None)
    await wait_for(lambda: [p for p in _new_pods(c, "v9.9.9-missing") if _waiting(p) == "ImagePullBackOff"],
                   what="ImagePullBackOff")
    assert any("not found" in e["message"] and e["message"].startswith("Failed to pull image")
               for e in c.events("Failed"))
    faults.apply_fault(c.ctx, "latency-spike", None)
    faults.apply_fault(c.ctx, "gpu-memory-leak", "claude-long-queue")
    assert c.ctx.faults.active["latency-spike"] == "claude-inference"
    assert c.ctx.faults.active["gpu-memory-leak"] == "claude-long-queue"
    cleared = faults.clear_faults(c.ctx)
    assert sorted(cleared["cleared"]) == ["gpu-memory-leak", "image-pull-error", "latency-spike"]
    assert c.ctx.faults.active == {}
    await wait_for(lambda: rollout_done(c.deployment()) and not _new_pods(c, "v9.9.9-missing"), what="rolled back")


async def test_unknown_kind_or_target_is_a_bad_request(cluster: Cluster) -> None:
    with pytest.raises(ApiError) as err:
        faults.apply_fault(cluster.ctx, "meteor-strike", None)
    assert err.value.code == 400 and err.value.reason == "BadRequest"
    assert all(kind in err.value.message for kind in faults.KINDS)
    with pytest.raises(ApiError) as err:
        faults.apply_fault(cluster.ctx, "oom", "no-such-deployment")
    assert err.value.code == 400
    with pytest.raises(ApiError):
        faults.apply_fault(cluster.ctx, "node-loss", "gpu-node-99")
    assert cluster.ctx.faults.active == {}
