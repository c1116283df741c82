"""Every action against a real sandbox (admin and viewer contexts): plans change nothing, bad input
sends nothing, the viewer is refused, read-only refuses, 409s are retried once, and applying works."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.actions.service import ActionError, Actions
from console.audit import FIELDS, AuditLog
from console.kube.errors import KubeError
from console.sandbox.server import SandboxThread
from tests.actions.conftest import (
    DEP,
    HPA,
    NS,
    VIEWER,
    apps_api,
    connect,
    eventually,
    hpa_api,
    marks,
    rolled_out,
    tokens,
)
from tests.conftest import start_sandbox


def spec_marks(apps: object) -> tuple[object, object, object]:
    """generation, spec and annotations: what a write changes, unlike status (controllers keep writing it)."""
    d = apps.read_namespaced_deployment(DEP, NS)  # type: ignore[attr-defined]
    return d.metadata.generation, d.spec.to_dict(), d.metadata.annotations


def hpa_spec(sb: SandboxThread) -> tuple[object, object]:
    hpa = hpa_api(sb).read_namespaced_horizontal_pod_autoscaler(HPA, NS)
    return hpa.metadata.generation, hpa.spec.to_dict()


def image(sb: SandboxThread, tag: str) -> str:
    return sb.ctx.catalog.ref("llm/claude-inference", tag)


async def all_plans(actions: Actions, sb: SandboxThread) -> list:
    return [await actions.plan_scale(NS, DEP, 5),
            await actions.plan_set_image(NS, DEP, f"inference={image(sb, 'v1.1.0')}"),
            await actions.plan_restart(NS, DEP),
            await actions.plan_pause(NS, DEP),
            await actions.plan_hpa(NS, HPA, 3, 9, 80)]


async def test_plans_are_dry_runs_that_change_nothing(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    before, hpa_before = marks(apps), hpa_spec(sb)
    actions, transport = await connect(sb, tmp_path / "audit.jsonl")
    try:
        scale, set_image, restart, pause, hpa = await all_plans(actions, sb)
        with pytest.raises(ActionError) as no_history:
            await actions.plan_undo(NS, DEP)
        with pytest.raises(ActionError) as not_paused:
            await actions.plan_resume(NS, DEP)
    finally:
        await actions.close()
    assert marks(apps) == before, "resourceVersion and generation unchanged"
    assert hpa_spec(sb) == hpa_before, "the HPA's spec and generation unchanged (its controller writes status)"
    assert len([m for m, _ in transport.calls if m == "PATCH"]) == 5, "each plan sent its dry-run"
    assert no_history.value.code == 1 and no_history.value.message == f'no rollout history found for deployment "{DEP}"'
    assert not_paused.value.code == 1 and not_paused.value.message == f'deployment "{DEP}" is not paused'

    assert scale.before == {"replicas": 2} and scale.after == {"replicas": 5}
    assert "-  replicas: 2\n+  replicas: 5\n" in scale.diff and "resourceVersion" not in scale.diff
    assert scale.kubectl == f"kubectl scale deployment/{DEP} --replicas=5 -n llm --context sandbox-admin"
    assert scale.request["path"].endswith("/scale") and scale.preflight is not None and scale.preflight.ok
    assert set_image.after["images"] == {"inference": image(sb, "v1.1.0")}
    assert set_image.preflight is not None and set_image.preflight.ok and set_image.alternatives == ()
    assert f"kubectl set image deployment/{DEP} inference={image(sb, 'v1.1.0')}" in set_image.kubectl
    assert "+        image: " + image(sb, "v1.1.0") in set_image.diff
    assert restart.after["restartedAt"] and restart.before == {"restartedAt": None}
    assert restart.kubectl == f"kubectl rollout restart deployment/{DEP} -n llm --context sandbox-admin"
    assert pause.before == {"paused": False} and pause.after == {"paused": True}
    assert hpa.kind == "HorizontalPodAutoscaler" and hpa.before == {"minReplicas": 2, "maxReplicas": 8, "cpuTarget": 70}
    assert hpa.after == {"minReplicas": 3, "maxReplicas": 9, "cpuTarget": 80}
    removed = [line for line in hpa.diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert any("averageUtilization: 70" in line for line in removed)
    assert not any("gpu_utilization" in line or "External" in line for line in removed), "other metrics kept"

    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert [e["mode"] for e in entries] == ["dry-run"] * 5 and all(e["result"] == "ok" for e in entries)
    assert entries[0]["target"] == f"{NS}/Deployment/{DEP}"
    assert entries[4]["target"] == f"{NS}/HorizontalPodAutoscaler/{HPA}"
    assert all(set(FIELDS) <= set(e) for e in entries)
    text = (tmp_path / "audit.jsonl").read_text()
    assert not any(t in text for t in tokens(sb))


async def test_bad_input_sends_nothing(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    before = marks(apps)
    actions, transport = await connect(sb, tmp_path / "audit.jsonl")
    try:
        for bad in ("-1", 1001, "two", -1, "1.5"):
            with pytest.raises(ActionError) as exc:
                await actions.plan_scale(NS, DEP, bad)
            assert exc.value.code == 2
        assert exc.value.message == "replicas must be an integer from 0 to 1000, not '1.5'"
        with pytest.raises(ActionError) as hpa:
            await actions.plan_hpa(NS, HPA, 5, 3)
        assert hpa.value.code == 2 and hpa.value.message == "minReplicas (5) must not exceed maxReplicas (3)"
        for bad_image in ("inference=Bad/Image", "nginx latest", "", "x:!"):
            with pytest.raises(ActionError) as img:
                await actions.plan_set_image(NS, DEP, bad_image)
            assert img.value.code == 2
        with pytest.raises(ActionError) as rev:
            await actions.plan_undo(NS, DEP, "abc")
        assert rev.value.code == 2
        assert transport.calls == [], "validation happens before any request"

        with pytest.raises(ActionError) as missing:
            await actions.plan_scale(NS, "nope", 3)
        assert missing.value.code == 1 and missing.value.message == 'deployment "nope" not found in namespace "llm"'
        with pytest.raises(ActionError) as missing_hpa:
            await actions.plan_hpa(NS, "nope", 1, 2)
        assert missing_hpa.value.message == 'horizontalpodautoscaler "nope" not found in namespace "llm"'
        with pytest.raises(ActionError) as container:
            await actions.plan_set_image(NS, DEP, "sidecar=nginx:1")
        assert container.value.code == 2
        assert 'has no container "sidecar"; containers: inference' in container.value.message
        with pytest.raises(ActionError) as one_sided:
            await actions.plan_hpa(NS, HPA, 9, None)  # max is 8 on the live HPA
        assert one_sided.value.message == "minReplicas (9) must not exceed maxReplicas (8)"
        assert all(m == "GET" for m, _ in transport.calls), "only reads were sent"
    finally:
        await actions.close()
    assert marks(apps) == before
    assert AuditLog(tmp_path / "audit.jsonl").entries() == []


async def test_viewer_is_forbidden_and_nothing_changes(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    apps.patch_namespaced_deployment(DEP, NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "inference", "image": image(sb, "v1.1.0")}]}}}})  # a revision 2, so undo has somewhere to go
    eventually(lambda: rolled_out(apps), what="rollout to v1.1.0")
    before = spec_marks(apps)
    forbidden = 'forbidden: cannot patch {} in namespace "llm" (user sandbox-viewer)'
    viewer, _ = await connect(sb, tmp_path / "audit.jsonl", context=VIEWER)
    try:
        assert await viewer.can_i("get", "deployments", NS, "apps") is True
        assert await viewer.can_i("patch", "deployments", NS, "apps", "scale") is False
        attempts = [(viewer.plan_scale(NS, DEP, 3), "deployments/scale"),
                    (viewer.plan_set_image(NS, DEP, image(sb, "v1.0.0")), "deployments"),
                    (viewer.plan_undo(NS, DEP, 1), "deployments"),
                    (viewer.plan_restart(NS, DEP), "deployments"),
                    (viewer.plan_pause(NS, DEP), "deployments"),
                    (viewer.plan_hpa(NS, HPA, 2, 4), "horizontalpodautoscalers")]
        for attempt, resource in attempts:
            with pytest.raises(ActionError) as exc:
                await attempt
            assert exc.value.code == 1 and exc.value.message == forbidden.format(resource)
        assert spec_marks(apps) == before
        apps.patch_namespaced_deployment(DEP, NS, {"spec": {"paused": True}})
        paused = spec_marks(apps)
        with pytest.raises(ActionError) as resume:
            await viewer.plan_resume(NS, DEP)
        assert resume.value.message == forbidden.format("deployments")
        assert spec_marks(apps) == paused
        assert (await viewer.status(NS, DEP)).message, "reads work for the viewer"
        assert [r.number for r in await viewer.history(NS, DEP)] == [1, 2]
    finally:
        await viewer.close()
    entries = AuditLog(tmp_path / "audit.jsonl").entries()
    assert len(entries) == 7 and all(e["mode"] == "dry-run" and e["result"].startswith("forbidden") for e in entries)
    assert all(e["user"] == VIEWER for e in entries)


async def test_unreachable_server(tmp_path: Path) -> None:
    sb = start_sandbox()
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    sb.stop()
    try:
        with pytest.raises(ActionError) as exc:
            await actions.plan_scale(NS, DEP, 3)
    finally:
        await actions.close()
    assert exc.value.code == 1 and exc.value.message.startswith("cannot reach the API server: ")


async def test_readonly_refuses_and_audits(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    before = marks(apps)
    actions, transport = await connect(sb, tmp_path / "audit.jsonl", readonly=True)
    try:
        plan = await actions.plan_scale(NS, DEP, 3)
        patches = len([c for c in transport.calls if c[0] == "PATCH"])
        with pytest.raises(ActionError) as exc:
            await actions.apply(plan)
        assert len([c for c in transport.calls if c[0] == "PATCH"]) == patches, "apply sent nothing"
    finally:
        await actions.close()
    assert exc.value.code == 1 and exc.value.message == "read-only mode: scale refused (started with --readonly)"
    assert marks(apps) == before
    assert [(e["mode"], e["result"]) for e in AuditLog(tmp_path / "audit.jsonl").entries()] == [
        ("dry-run", "ok"), ("refused", "read-only mode: scale refused (started with --readonly)")]


async def test_scale_of_hpa_managed_deployment_offers_hpa_min(sb: SandboxThread, tmp_path: Path) -> None:
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    try:
        plan = await actions.plan_scale(NS, DEP, 4)
        assert plan.warnings == ("HorizontalPodAutoscaler claude-hpa manages this Deployment (min 2, max 8): it will "
                                 "override a manual scale",)
        assert plan.alternatives == (("hpa-min", "Set claude-hpa's minReplicas to 4 instead"),)
        alt = await actions.plan_alternative(plan, "hpa-min")
        assert alt.kind == "HorizontalPodAutoscaler" and alt.name == HPA and alt.after["minReplicas"] == 4
        result = await actions.apply(alt)
        assert result.ok and result.message == f"horizontalpodautoscaler.autoscaling/{HPA} patched"
        big = await actions.plan_scale(NS, DEP, 10)
        assert big.alternatives == (("hpa-min", "Set claude-hpa's minReplicas to 10 (and maxReplicas to 10) instead"),)
        raised = await actions.plan_alternative(big, "hpa-min")
        assert raised.after["minReplicas"] == 10 and raised.after["maxReplicas"] == 10
        with pytest.raises(ActionError) as not_offered:
            await actions.plan_alternative(big, "surge-0")
        assert not_offered.value.code == 2
    finally:
        await actions.close()
    spec = hpa_api(sb).read_namespaced_horizontal_pod_autoscaler(HPA, NS).spec
    assert (spec.min_replicas, spec.max_replicas) == (4, 8)


async def test_conflict_is_retried_once_then_reported(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    hpa_api(sb).delete_namespaced_horizontal_pod_autoscaler(HPA, NS)  # it would undo the manual scale at once
    n = [0]

    def other_client_writes() -> None:
        n[0] += 1
        apps.patch_namespaced_deployment(DEP, NS, {"metadata": {"annotations": {"touched": str(n[0])}}})

    actions, transport = await connect(sb, tmp_path / "audit.jsonl")
    try:
        # merge patch on the scale subresource
        plan = await actions.plan_scale(NS, DEP, 3)
        other_client_writes()
        result = await actions.apply(plan)
        assert result.ok and result.retried
        assert apps.read_namespaced_deployment(DEP, NS).spec.replicas == 3
        # strategic merge patch
        pause = await actions.plan_pause(NS, DEP)
        other_client_writes()
        assert (await actions.apply(pause)).retried
        assert apps.read_namespaced_deployment(DEP, NS).spec.paused is True
        # a second conflict is reported, nothing applied
        resume = await actions.plan_resume(NS, DEP)
        transport.before_patch = other_client_writes
        with pytest.raises(ActionError) as twice:
            await actions.apply(resume)
        transport.before_patch = None
        assert twice.value.code == 1
        assert twice.value.message == (f'conflict: deployment "{DEP}" changed twice while applying; nothing applied, '
                                       "try again")
        assert apps.read_namespaced_deployment(DEP, NS).spec.paused is True
        # the retry re-checks the intent on the fresh object
        again = await actions.plan_resume(NS, DEP)
        apps.patch_namespaced_deployment(DEP, NS, {"spec": {"paused": False}})
        with pytest.raises(ActionError) as stale:
            await actions.apply(again)
        assert stale.value.message == f'deployment "{DEP}" is not paused'
        # strategic merge patch that also sets an annotation: still guarded
        set_image = await actions.plan_set_image(NS, DEP, image(sb, "v1.1.0"))
        other_client_writes()
        assert (await actions.apply(set_image)).retried
        assert apps.read_namespaced_deployment(DEP, NS).spec.template.spec.containers[0].image == image(sb, "v1.1.0")
    finally:
        await actions.close()
    applied = [e for e in AuditLog(tmp_path / "audit.jsonl").entries() if e["mode"] == "applied"]
    assert [(e["result"], e["retried"]) for e in applied] == [
        ("ok", True), ("ok", True), (twice.value.message, True), (stale.value.message, True), ("ok", True)]


async def test_undo_to_a_revision_skip_and_json_patch_conflict(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    first_rs = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs.metadata.name
                for rs in apps.list_namespaced_replica_set(NS, label_selector="app=claude").items}["1"]
    digest = sb.ctx.catalog.images[("llm/claude-inference", "v1.0.0")].manifest_digest()
    by_digest = f"{sb.ctx.catalog.registry_host}/llm/claude-inference@{digest}"
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    try:
        for ref in (image(sb, "v1.1.0"), by_digest):
            await actions.apply(await actions.plan_set_image(NS, DEP, ref))
            assert (await actions.follow(NS, DEP, timeout=30)).done
        history = await actions.history(NS, DEP)
        assert [(r.number, r.images) for r in history] == [
            (1, (image(sb, "v1.0.0"),)), (2, (image(sb, "v1.1.0"),)), (3, (by_digest,))]
        assert history[2].change_cause == f"llmctl rollout set-image inference={by_digest}"
        with pytest.raises(ActionError) as unknown:
            await actions.plan_undo(NS, DEP, 7)
        assert unknown.value.code == 2 and unknown.value.message == "revision 7 not found; revisions: 1, 2, 3"
        unchanged = spec_marks(apps)
        plan = await actions.plan_undo(NS, DEP, 1)
        assert spec_marks(apps) == unchanged, "the undo's dry-run changed nothing"
        assert plan.before["revision"] == 3 and plan.after["revision"] == 1
        assert plan.after["images"] == {"inference": image(sb, "v1.0.0")}
        assert plan.kubectl == f"kubectl rollout undo deployment/{DEP} --to-revision=1 -n llm --context sandbox-admin"
        apps.patch_namespaced_deployment(DEP, NS, {"metadata": {"annotations": {"touched": "1"}}})
        result = await actions.apply(plan)
        assert result.ok and result.retried, "the JSON patch's resourceVersion guard gave 409, retried"
        assert (await actions.follow(NS, DEP, timeout=30)).done
        history = await actions.history(NS, DEP)
        assert [r.number for r in history] == [2, 3, 4] and history[2].replicaset == first_rs
        assert history[2].change_cause == "initial deploy: claude-inference v1.0.0 (CUDA 12.2)"
        with pytest.raises(ActionError) as skipped:
            await actions.plan_undo(NS, DEP, 4)
        assert skipped.value.code == 1
        assert skipped.value.message == "skipped rollback (current template already matches revision 4)"
        previous = await actions.plan_undo(NS, DEP)
        assert previous.after["revision"] == 3
    finally:
        await actions.close()


async def test_pause_resume_restart(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    try:
        assert (await actions.apply(await actions.plan_pause(NS, DEP))).message == f"deployment.apps/{DEP} paused"
        assert apps.read_namespaced_deployment(DEP, NS).spec.paused is True
        with pytest.raises(ActionError) as again:
            await actions.plan_pause(NS, DEP)
        assert again.value.code == 1 and "already paused" in again.value.message
        with pytest.raises(ActionError) as restart_paused:
            await actions.plan_restart(NS, DEP)
        assert "paused" in restart_paused.value.message
        with pytest.raises(ActionError) as undo_paused:
            await actions.plan_undo(NS, DEP, 1)
        assert undo_paused.value.code in (1, 2)
        unchanged = spec_marks(apps)
        resume = await actions.plan_resume(NS, DEP)
        assert spec_marks(apps) == unchanged and resume.before == {"paused": True} and resume.after == {"paused": False}
        assert (await actions.apply(resume)).message == f"deployment.apps/{DEP} resumed"
        assert not apps.read_namespaced_deployment(DEP, NS).spec.paused
        plan = await actions.plan_restart(NS, DEP)
        await actions.apply(plan)
        seen: list[str] = []
        verdict = await actions.follow(NS, DEP, timeout=30, on_update=lambda v: seen.append(v.message))
        assert verdict.done and seen[-1] == f'deployment "{DEP}" successfully rolled out'
        template = apps.read_namespaced_deployment(DEP, NS).spec.template
        assert template.metadata.annotations["kubectl.kubernetes.io/restartedAt"] == plan.after["restartedAt"]
        assert [r.number for r in await actions.history(NS, DEP)] == [1, 2]
    finally:
        await actions.close()


async def test_follow_reports_a_failed_rollout_and_times_out(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    apps.patch_namespaced_deployment(DEP, NS, {"spec": {"progressDeadlineSeconds": 30}})
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    try:
        # The compat gate blocks this image (CUDA 13 on driver 535); forced, to get a failing rollout.
        await actions.apply(await actions.plan_set_image(NS, DEP, image(sb, "v2.0.0-cuda13")), force=True)
        short = await actions.follow(NS, DEP, timeout=0.2)
        assert not short.done and not short.failed, "timed out: the latest verdict, still in progress"
        verdict = await actions.follow(NS, DEP, timeout=30)
        assert verdict.failed and verdict.message == f'deployment "{DEP}" exceeded its progress deadline'
        assert (await actions.status(NS, DEP)).failed
    finally:
        await actions.close()


async def test_preflight_unknown_without_permission_to_list_pods(sb: SandboxThread, tmp_path: Path) -> None:
    actions, transport = await connect(sb, tmp_path / "audit.jsonl")
    real_read = transport._read

    async def forbid_pods(method: str, path: str, *args: object, **kwargs: object) -> bytes:
        if path == "/api/v1/pods":
            raise KubeError(403, "Forbidden", "pods is forbidden")
        return await real_read(method, path, *args, **kwargs)

    transport._read = forbid_pods  # type: ignore[method-assign]  (each LIST page is read through it)
    try:
        plan = await actions.plan_set_image(NS, DEP, image(sb, "v1.1.0"))
    finally:
        await actions.close()
    assert plan.preflight is not None and plan.preflight.ok and plan.preflight.gpus_free is None
    assert plan.preflight.message == "unknown: no permission to list pods cluster-wide"
    assert plan.preflight.gpus_needed == 1


async def test_gpu_preflight_on_a_full_cluster_and_the_surge0_alternative(tmp_path: Path) -> None:
    sb = start_sandbox(nodes=1, gpus_per_node=5)  # 2 inference + 2 queue pods: 1 GPU left
    try:
        apps = apps_api(sb)
        eventually(lambda: rolled_out(apps), what="initial rollout")
        hpa_api(sb).delete_namespaced_horizontal_pod_autoscaler(HPA, NS)  # keep the HPA from resizing it
        actions, _ = await connect(sb, tmp_path / "audit.jsonl")
        try:
            scale = await actions.plan_scale(NS, DEP, 3)
            assert scale.preflight is not None and scale.preflight.ok and scale.warnings == ()
            assert scale.preflight.message == ("1 new replica needs 1 GPU (1 GPU each); 1 free on schedulable nodes: "
                                               "it can be placed")
            await actions.apply(scale)
            assert (await actions.follow(NS, DEP, timeout=30)).done
            more = await actions.plan_scale(NS, DEP, 5)
            assert more.preflight is not None and not more.preflight.ok and "only 0 of the 2" in more.preflight.message

            plan = await actions.plan_set_image(NS, DEP, image(sb, "v1.1.0"))
            pf = plan.preflight
            assert pf is not None and not pf.ok and pf.gpus_needed == 1 and pf.gpus_free == 0
            assert pf.message == ("the rollout needs 1 more GPU for its surge pod (maxSurge 1 × 1 GPU) but no node has "
                                  "a free GPU: the new pod would stay Pending (Insufficient nvidia.com/gpu) until "
                                  "ProgressDeadlineExceeded")
            label = ("maxSurge 0 / maxUnavailable 1: replaces pods one at a time in place; 1 of 3 replicas is not "
                     "serving during the rollout")
            assert plan.alternatives == (("surge-0", label),)
            alt = await actions.plan_alternative(plan, "surge-0")
            assert alt.preflight is not None and alt.preflight.ok and alt.alternatives == ()
            assert alt.after["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
            assert "keeps maxSurge 0 / maxUnavailable 1" in alt.warnings[0]
            assert alt.kubectl.startswith(f"kubectl patch deployment/{DEP} -p ")
            assert (await actions.apply(alt)).ok
            assert (await actions.follow(NS, DEP, timeout=30)).done
        finally:
            await actions.close()
        d = apps.read_namespaced_deployment(DEP, NS)
        assert d.spec.template.spec.containers[0].image == image(sb, "v1.1.0")
        assert (d.spec.strategy.rolling_update.max_surge, d.spec.strategy.rolling_update.max_unavailable) == (0, 1)
        assert d.status.updated_replicas == d.status.available_replicas == 3
    finally:
        sb.stop()


async def test_follow_resumes_after_a_dropped_watch_and_410(sb: SandboxThread, tmp_path: Path) -> None:
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    actions, transport = await connect(sb, tmp_path / "audit.jsonl")
    real_stream, drops = transport.inner.stream, ["lost", "gone"]

    def flaky_stream(path: str, query: list, idle: float) -> object:
        transport.calls.append(("WATCH", path))
        if not drops:
            return real_stream(path, query, idle)
        what = drops.pop(0)

        async def broken() -> object:
            if what == "lost":
                raise KubeError(0, "Unreachable", "watch connection lost: reset by peer")
            yield {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}

        return broken()

    transport.stream = flaky_stream  # type: ignore[method-assign]
    try:
        await actions.apply(await actions.plan_set_image(NS, DEP, image(sb, "v1.1.0")))
        verdict = await actions.follow(NS, DEP, timeout=30)
    finally:
        await actions.close()
    assert verdict.done and not drops
    assert len([c for c in transport.calls if c[0] == "WATCH"]) >= 3, "watched again after each break"


async def test_set_image_gate_resolves_a_docker_hub_short_name(sb: SandboxThread, tmp_path: Path) -> None:
    """Issue 13: the TUI's set-image dialog and the headless command plan through this service; a short name is
    read where the nodes pull it (the cluster's KEP-1755 local registry), so the gate knows it and refuses."""
    apps = apps_api(sb)
    eventually(lambda: rolled_out(apps), what="initial rollout")
    before = marks(apps)
    actions, _ = await connect(sb, tmp_path / "audit.jsonl")
    try:
        plan = await actions.plan_set_image(NS, DEP, "inference=llm/claude-inference:v2.0.0-cuda13")
        gate = plan.compat
        assert gate is not None and gate.blocked and "needs ≥ 580.65.06" in gate.summary
        assert plan.after["images"] == {"inference": "llm/claude-inference:v2.0.0-cuda13"}, "applied as written"
        with pytest.raises(ActionError) as refused:
            await actions.apply(plan)
        assert refused.value.code == 1 and "refused" in refused.value.message
        fine = await actions.plan_set_image(NS, DEP, "inference=docker.io/llm/claude-inference:v1.1.0")
        assert fine.compat is not None and not fine.compat.blocked and fine.compat.summary.startswith("OK")
    finally:
        await actions.close()
    assert marks(apps) == before
    assert [e["mode"] for e in AuditLog(tmp_path / "audit.jsonl").entries()] == ["dry-run", "refused", "dry-run"]


async def test_gpu_preflight_on_every_path_that_adds_pods(tmp_path: Path) -> None:
    """restart, undo and resume start a rolling update (surge pods need free GPUs); raising an HPA's
    minReplicas makes it scale up — each plan carries the preflight that scale and set-image have."""
    sb = start_sandbox(nodes=1, gpus_per_node=4)  # 2 inference + 2 queue pods: the node is full
    try:
        apps = apps_api(sb)
        eventually(lambda: rolled_out(apps), what="initial rollout")
        actions, _ = await connect(sb, tmp_path / "audit.jsonl")
        try:
            restart = await actions.plan_restart(NS, DEP)
            apps.patch_namespaced_deployment(DEP, NS, {"spec": {"paused": True}})
            idle = await actions.plan_resume(NS, DEP)
            assert idle.preflight is not None and idle.preflight.ok and idle.preflight.gpus_needed == 0, \
                "resuming without a pending change starts no rollout"
            apps.patch_namespaced_deployment(DEP, NS, {"spec": {"template": {"metadata": {"annotations": {
                "changed-while-paused": "1"}}}}})
            for plan in (restart, await actions.plan_resume(NS, DEP)):
                assert plan.preflight is not None and not plan.preflight.ok, plan.action
                assert "no node has a free GPU" in plan.preflight.message
                assert plan.alternatives and plan.alternatives[0][0] == "surge-0"
            apps.patch_namespaced_deployment(DEP, NS, {"spec": {"paused": False}})
            hpa = await actions.plan_hpa(NS, HPA, 4, None)
            assert hpa.preflight is not None and not hpa.preflight.ok
            assert "only 0 of the 2 new replicas can be placed" in hpa.preflight.message
            apps.patch_namespaced_deployment(DEP, NS, {"spec": {"template": {"metadata": {"annotations": {"x": "1"}}},
                                                                 "strategy": {"rollingUpdate": {"maxSurge": 0,
                                                                                                "maxUnavailable": 1}}}})
            eventually(lambda: rolled_out(apps), what="revision 2")
            apps.patch_namespaced_deployment(DEP, NS, {"spec": {"strategy": {"rollingUpdate": {
                "maxSurge": 1, "maxUnavailable": 0}}}})
            undo = await actions.plan_undo(NS, DEP)
            assert undo.preflight is not None and not undo.preflight.ok and undo.preflight.gpus_needed == 1
        finally:
            await actions.close()
    finally:
        sb.stop()
