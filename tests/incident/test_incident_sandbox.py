"""A scripted incident on a fresh sandbox, over real sockets: a bad image rollout (audited) → CrashLoopBackOff →
cluster alert → undo → recovery; then the incident service and ``llmctl incident snapshot`` tell the story."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from console.actions.service import Actions
from console.alerts.model import Alert, cluster_alerts
from console.audit import AuditLog
from console.cli import main
from console.incident.service import IncidentError, collect_incident
from console.kube.kubeconfig import read_kubeconfig_target
from console.kube.transport import KubeTransport
from console.metrics.prometheus import PrometheusClient
from console.sandbox.server import SandboxThread
from tests.actions.conftest import ADMIN, DEP, NS

REPO_IMAGE = "llm/claude-inference"


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def crashloop_alert(transport: KubeTransport) -> Alert | None:
    pods = await transport.get(f"/api/v1/namespaces/{NS}/pods")
    deployments = await transport.get(f"/apis/apps/v1/namespaces/{NS}/deployments")
    return next((a for a in cluster_alerts(pods, deployments, None)
                 if a.name == "CrashLoopBackOff" and a.target.deployment == DEP), None)


def index(entries: list, what: str, check: Callable[[Any], bool]) -> int:
    found = [i for i, e in enumerate(entries) if check(e)]
    assert found, f"no {what} in the timeline: {[e.summary for e in entries]}"
    return found[0]


async def test_bad_rollout_incident_timeline_state_and_snapshot(sb: SandboxThread, tmp_path: Path) -> None:
    good, bad = sb.ctx.catalog.ref(REPO_IMAGE, "v1.0.0"), sb.ctx.catalog.ref(REPO_IMAGE, "v2.0.0-cuda13")
    audit = AuditLog(tmp_path / "audit.jsonl")
    transport = await KubeTransport.connect(sb.info.kubeconfig, ADMIN)
    actions = Actions(transport, read_kubeconfig_target(sb.info.kubeconfig, ADMIN), audit)
    try:
        # the compat gate refuses this image (driver too old): force it, as an engineer in a hurry would
        await actions.apply(await actions.plan_set_image(NS, DEP, f"inference={bad}"), force=True)
        alert = await until(lambda: crashloop_alert(transport), what="the CrashLoopBackOff alert")
        await asyncio.sleep(1.1)  # timestamps have one-second resolution: keep the crash and the undo apart
        await actions.apply(await actions.plan_undo(NS, DEP))
        assert (await actions.follow(NS, DEP, timeout=30)).done

        async def recovered() -> bool:
            return await crashloop_alert(transport) is None

        await until(recovered, what="the crash-looping pod to go")
        resolved = datetime.now(UTC)

        incident = await collect_incident(transport, NS, DEP, 60, audit, None, None, None,
                                          resolved_alerts=[(alert, resolved)])
    finally:
        await actions.close()

    entries = list(incident.timeline)
    set_image = index(entries, "set-image audit entry", lambda e: e.kind == "audit"
                      and e.detail["action"] == "set-image" and e.detail["mode"] == "applied")
    rollout = index(entries, "rollout to the bad image", lambda e: e.kind == "rollout"
                    and e.detail["images"] == [bad] and e.detail["old_images"] == [good])
    backoff = index(entries, "BackOff event", lambda e: e.kind == "event" and e.detail["reason"] == "BackOff")
    alert_start = index(entries, "alert start", lambda e: e.kind == "alert-start"
                        and e.detail["alert"] == "CrashLoopBackOff")
    undo = index(entries, "undo audit entry", lambda e: e.kind == "audit" and e.detail["action"] == "undo"
                 and e.detail["mode"] == "applied")
    back = index(entries, "rollback", lambda e: e.kind == "rollout" and e.detail["images"] == [good]
                 and e.detail["old_images"] == [bad])
    alert_end = index(entries, "alert end", lambda e: e.kind == "alert-end")
    assert set_image < rollout < backoff < undo < back <= alert_end
    assert rollout < alert_start < undo
    assert entries[rollout].summary == f"deployment/{DEP} revision 1 → 2: {good} → {bad}"
    assert entries[back].detail["rollback_of"] == 1 and entries[back].detail["revision"] == 3
    assert entries[backoff].ref[0] == "pod" and entries[backoff].target.deployment == DEP
    assert [e.time for e in entries] == sorted(e.time for e in entries)
    assert not any(e.kind == "scale" for e in entries), "rollout steps are not scale changes"

    (dep,) = incident.deployments
    assert (dep.name, dep.ready, dep.desired, dep.image, dep.revision) == (DEP, 2, 2, good, "3")
    assert dep.verdict is not None and dep.verdict.done
    assert incident.pods and all(p.image == good for p in incident.pods if p.status == "Running")
    assert [h.name for h in incident.hpas] == ["claude-hpa"] and incident.alerts == ()

    # the same, headless: Markdown and JSON files for the postmortem
    out = tmp_path / "reports" / "incident"
    argv = ["incident", "snapshot", "--kubeconfig", sb.info.kubeconfig, "-n", NS, "-d", DEP, "--minutes", "30",
            "--audit-log", str(audit.path), "-o", str(out)]
    assert await asyncio.to_thread(main, argv) == 0
    md, js = out.with_name("incident.md"), out.with_name("incident.json")
    text = md.read_text()
    for section in ("## Timeline", "## Current state", "### Deployments", "### Pods", "## Figures", "## Notes"):
        assert f"\n{section}\n" in text
    assert f"revision 1 → 2: {good} → {bad}" in text and "set-image deployment/claude-inference" in text
    doc = json.loads(js.read_text())
    assert doc["scope"] == {"namespace": NS, "deployment": DEP} and doc["window"]["minutes"] == 30
    assert [e["kind"] for e in doc["timeline"]].count("rollout") == 2
    assert doc["state"]["deployments"][0]["revision"] == "3"


async def test_sources_failing_become_notes(sb: SandboxThread, tmp_path: Path) -> None:
    audit_file = tmp_path / "audit.jsonl"
    audit_file.write_text('{"time": "2026-01-01T00:00:00Z", "action": "scale"}\nnot json\n')
    incident = await collect_incident(None, NS, DEP, 60, AuditLog(audit_file), None, None,
                                      PrometheusClient("http://127.0.0.1:9"), kubeconfig=sb.info.kubeconfig,
                                      context=ADMIN)
    notes = "\n".join(incident.notes)
    assert "1 unreadable line(s) skipped" in notes
    assert "Prometheus at http://127.0.0.1:9: alert history unavailable" in notes
    assert "no metrics source" in notes and incident.context == ADMIN and incident.deployments
    with pytest.raises(IncidentError, match='deployment "nope" not found in namespace "llm"') as err:
        await collect_incident(None, NS, "nope", 60, None, kubeconfig=sb.info.kubeconfig, context=ADMIN)
    assert err.value.code == 2


def test_snapshot_cli_usage_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for minutes in ("-5", "0", "1e9", "soon"):
        assert main(["incident", "snapshot", "--minutes", minutes, "--kubeconfig", str(tmp_path / "none")]) == 2
        assert "--minutes must be" in capsys.readouterr().err
    assert main(["incident", "snapshot", "--kubeconfig", str(tmp_path / "none")]) == 2  # a usage error, at once
    assert "llmctl: no kubeconfig at" in capsys.readouterr().err
    assert main(["incident", "snapshot", "--sandbox", "-n", NS, "-d", "nope"]) == 2
    assert 'deployment "nope" not found in namespace "llm" (deployments: claude-inference' in capsys.readouterr().err
    assert main(["incident", "snapshot", "--sandbox", "-n", NS, "--minutes", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Incident snapshot: namespace llm\n") and "claude-short-queue" in out


async def test_the_snapshot_keeps_only_this_clusters_audit_entries(sb: SandboxThread, tmp_path: Path) -> None:
    server = read_kubeconfig_target(sb.info.kubeconfig, ADMIN).server
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    log = AuditLog(tmp_path / "audit.jsonl")
    for where, replicas in ((server, 3), ("https://staging.example:6443", 9)):
        log.append({"time": now, "context": ADMIN, "user": "alice", "server": where, "action": "scale",
                    "target": f"{NS}/Deployment/{DEP}", "before": {"replicas": 2}, "after": {"replicas": replicas},
                    "mode": "dry-run", "result": "ok", "kubectl": "kubectl scale ..."})
    incident = await collect_incident(None, NS, DEP, 60, log, kubeconfig=sb.info.kubeconfig, context=ADMIN)
    audited = [e for e in incident.timeline if e.kind == "audit"]
    assert len(audited) == 1 and audited[0].detail["after"] == {"replicas": 3}


async def test_the_snapshot_keeps_the_oom_that_a_restart_replaced(sb: SandboxThread, tmp_path: Path) -> None:
    """fault oom → the pods are OOMKilled → fault clear → `llmctl rollout restart` replaces them → the
    snapshot still names the OOMKilled containers and the alert they raised (now resolved)."""
    from console.sandbox.faultcli import send_fault

    audit = tmp_path / "audit.jsonl"
    transport = await KubeTransport.connect(sb.info.kubeconfig, ADMIN)
    try:
        assert send_fault("oom", DEP, sb.info.kubeconfig) == 0

        async def oom_seen() -> Any:
            pods = (await transport.get(f"/api/v1/namespaces/{NS}/pods"))["items"]
            return [p for p in pods if any(((cs.get("lastState") or {}).get("terminated") or {}).get("reason")
                                           == "OOMKilled" for cs in (p.get("status") or {}).get("containerStatuses")
                                           or [])]

        oomed = {p["metadata"]["name"] for p in await until(oom_seen, timeout=40, what="an OOMKilled container")}
        assert send_fault("clear", DEP, sb.info.kubeconfig) == 0
        argv = ["rollout", "restart", DEP, "--kubeconfig", sb.info.kubeconfig, "-n", NS, "--yes",
                "--audit-log", str(audit), "--timeout", "60"]
        assert await asyncio.to_thread(main, argv) == 0

        async def replaced() -> bool:
            pods = (await transport.get(f"/api/v1/namespaces/{NS}/pods"))["items"]
            return not oomed & {p["metadata"]["name"] for p in pods}

        await until(replaced, timeout=40, what="the OOMKilled pods to be gone")
    finally:
        await transport.close()
    incident = await collect_incident(None, NS, DEP, 30, AuditLog(audit), kubeconfig=sb.info.kubeconfig, context=ADMIN)
    ooms = [e for e in incident.timeline if e.kind == "oomkill"]
    assert ooms and {e.target.pod for e in ooms} <= oomed, [e.summary for e in incident.timeline]
    ended = [e for e in incident.timeline if e.kind == "alert-end" and "OOMKilled" in e.summary]
    assert ended, "the OOMKilled alert of the replaced pods shows as resolved"
