"""AlertmanagerClient and ``llmctl silence`` / ``llmctl alerts --alertmanager`` against a real Alertmanager fed
by a real Prometheus running the project's rules over a sandbox whose GPU memory leaks (tests/infra_alertmanager).

The tests that need no firing alert come first: they run while the leak grows (~35 s at speed 1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from console.alerts.alertmanager import AlertmanagerClient, AlertmanagerError, matchers_for
from console.audit import AuditLog
from console.config import Settings
from console.kube.cluster import KubeClusterService
from screens.alerts import AlertsScreen, ExpireSilenceDialog
from screens.widgets.dialogs import FormDialog
from tests.infra_alertmanager import AlertStack, wait
from tests.metrics.prom import free_port
from tests.ui.helpers import console_app, rows, wait_for

REPO = Path(__file__).resolve().parents[2]
FB = "GPUFramebufferHigh"


def client(stack: AlertStack, tmp_path: Path) -> tuple[AlertmanagerClient, AuditLog]:
    audit = AuditLog(tmp_path / "audit.jsonl")
    return AlertmanagerClient(stack.alertmanager.url, audit=audit), audit


def llmctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "USER": "bob"}
    env = {k: v for k, v in env.items() if not k.startswith("LLMCTL_")}
    return subprocess.run([sys.executable, "-m", "console.cli", *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env=env)


def fb_alerts(stack: AlertStack, am: AlertmanagerClient, count: int = 1) -> list[Any]:
    """Alertmanager's GPUFramebufferHigh alerts once there are ``count`` (claude-inference's two pods leak)."""
    stack.wait_for_alert(FB)
    return list(wait(lambda: (found := [a for a in am.alerts() if a.name == FB]) and len(found) >= count and found,
                     20, f"{count} {FB} alerts"))


def test_bad_inputs_are_refused_audited_and_change_nothing(alert_stack: AlertStack, tmp_path: Path) -> None:
    am, audit = client(alert_stack, tmp_path)
    dead = AlertmanagerClient(f"http://127.0.0.1:{free_port()}", audit=audit)
    readonly = AlertmanagerClient(alert_stack.alertmanager.url, audit=audit, readonly=True)
    before = am.silences()
    unknown = str(uuid.uuid4())
    cases: list[tuple[str, Callable[[], Any], str, str]] = [
        ("silence-create", lambda: am.create_silence([], "2h", "c", "alice"), "invalid",
         "a silence needs at least one matcher"),
        ("silence-create", lambda: am.create_silence(["pod=~claude-(.*"], "2h", "c", "alice"), "invalid",
         "bad matcher pod=~claude-(.*: the regex does not compile"),
        ("silence-create", lambda: am.create_silence(["alertname=X"], "0s", "c", "alice"), "invalid",
         "bad duration '0s': a silence must last more than 0 seconds"),
        ("silence-create", lambda: am.create_silence(["alertname=X"], "40d", "c", "alice"), "invalid",
         "bad duration '40d': at most 30d"),
        ("silence-create", lambda: am.create_silence(["alertname=X"], "2 hours", "c", "alice"), "invalid",
         "bad duration '2 hours'"),
        ("silence-create", lambda: am.create_silence(["alertname=X"], "2h", "  ", "alice"), "invalid",
         "a silence needs a comment"),
        # Python's re accepts a lookahead, Go's RE2 does not: Alertmanager's own 400 is passed on.
        ("silence-create", lambda: am.create_silence(["pod=~(?=claude).*"], "2h", "c", "alice"), "invalid",
         f"Alertmanager at {am.where} answered HTTP 400: silence invalid: invalid label matcher 0"),
        ("silence-create", lambda: dead.create_silence(["alertname=X"], "2h", "c", "alice"), "unreachable",
         f"Alertmanager unreachable at {dead.where}: connection refused (nothing listens on that port)"),
        ("silence-create", lambda: readonly.create_silence(["alertname=X"], "2h", "c", "alice"), "refused",
         "read-only mode: silences cannot be changed"),
        ("silence-expire", lambda: am.expire_silence(unknown, "alice"), "not-found",
         f"no silence {unknown} at Alertmanager at {am.where}"),
        ("silence-expire", lambda: am.expire_silence("nope", "alice"), "not-found", "no silence 'nope': a silence id"),
    ]
    messages = []
    for action, call, kind, message in cases:
        with pytest.raises(AlertmanagerError) as err:
            call()
        assert err.value.kind == kind, (message, str(err.value))
        assert str(err.value).startswith(message), (message, str(err.value))
        messages.append((action, str(err.value)))
    assert am.silences() == before
    entries = audit.entries()
    assert [(e["action"], e["result"]) for e in entries] == messages
    assert {e["mode"] for e in entries} == {"refused"} and {e["user"] for e in entries} == {"alice"}
    assert entries[0]["server"] == am.where and entries[-2]["target"] == f"silence/{unknown}"


def test_llmctl_silence_refuses_bad_input(alert_stack: AlertStack, tmp_path: Path) -> None:
    url = alert_stack.alertmanager.url
    unconfigured = llmctl(tmp_path, "silence", "list")
    assert unconfigured.returncode == 2 and "no Alertmanager configured" in unconfigured.stderr
    bad = llmctl(tmp_path, "--alertmanager", url, "silence", "create", "-m", "pod=~claude-(", "-d", "2h", "-c", "x")
    assert bad.returncode == 2 and "llmctl silence: bad matcher pod=~claude-(: the regex" in bad.stderr
    unknown = str(uuid.uuid4())
    gone = llmctl(tmp_path, "silence", "expire", unknown, "--alertmanager", url)
    assert gone.returncode == 1 and f"no silence {unknown}" in gone.stderr
    entries = AuditLog(tmp_path / "state" / "llmctl" / "audit.jsonl").entries()
    assert [(e["action"], e["mode"], e["user"]) for e in entries] == [("silence-create", "refused", "bob"),
                                                                      ("silence-expire", "refused", "bob")]


def test_memory_leak_fires_reaches_alertmanager_and_is_silenced(alert_stack: AlertStack, tmp_path: Path) -> None:
    am, audit = client(alert_stack, tmp_path)
    first, *_ = fb_alerts(alert_stack, am)
    firing = [a for a in alert_stack.prometheus_alerts() if a["labels"]["alertname"] == FB]
    assert firing and {a["state"] for a in firing} == {"firing"}
    assert first.source == "alertmanager" and first.severity == "warning" and first.state == "firing"
    assert first.target.namespace == "llm" and first.target.pod.startswith("claude-inference-")
    assert first.target.node and first.target.gpu is not None and first.since is not None
    assert not first.muted and "framebuffer" in first.summary

    matchers = matchers_for(first)
    assert [m.name for m in matchers] == ["alertname", "namespace", "pod", "Hostname", "gpu"]
    sid = am.create_silence(matchers, "2h", "GPU memory leak under investigation", "alice")
    [silence] = [s for s in am.silences() if s.id == sid]
    assert (silence.state, silence.created_by, silence.comment) == ("active", "alice",
                                                                     "GPU memory leak under investigation")
    assert silence.matchers == matchers and am.silence(sid) == silence
    assert silence.starts_at and silence.ends_at
    assert abs((silence.ends_at - silence.starts_at) - timedelta(hours=2)) < timedelta(seconds=5)

    def muted() -> dict[str, tuple[str, ...]]:
        return {str(a.target): a.silenced_by for a in am.alerts() if a.name == FB}

    now = muted()
    assert now[str(first.target)] == (sid,)
    assert all(not ids for target, ids in now.items() if target != str(first.target)), "only that GPU's alert"

    expired = am.expire_silence(sid, "alice")
    assert expired.id == sid and expired.state == "active"
    assert am.silence(sid).state == "expired"
    assert muted()[str(first.target)] == ()
    with pytest.raises(AlertmanagerError, match=f"silence {sid} has already expired"):
        am.expire_silence(sid, "alice")

    create, expire, again = audit.entries()
    assert (create["action"], create["mode"], create["result"], create["target"]) == (
        "silence-create", "applied", "ok", f"silence/{sid}")
    assert create["after"]["matchers"] == [str(m) for m in matchers] and create["user"] == "alice"
    assert create["after"]["comment"] == "GPU memory leak under investigation"
    assert (expire["action"], expire["mode"], expire["result"]) == ("silence-expire", "applied", "ok")
    assert expire["before"]["state"] == "active" and expire["target"] == f"silence/{sid}"
    assert (again["mode"], again["result"]) == ("refused", f"silence {sid} has already expired "
                                                           f"({am.silence(sid).ends_at.isoformat()})")


def test_llmctl_alerts_and_silence_commands(alert_stack: AlertStack, tmp_path: Path) -> None:
    am, _ = client(alert_stack, tmp_path)
    one, two = fb_alerts(alert_stack, am, count=2)[:2]
    prom, mgr, kc = alert_stack.prometheus.url, alert_stack.alertmanager.url, alert_stack.kubeconfig

    listed = llmctl(tmp_path, "alerts", "--kubeconfig", kc, "--prometheus", prom, "--alertmanager", mgr, "-o", "json")
    doc = json.loads(listed.stdout)
    assert doc["errors"] == [], listed.stderr
    seen = {(a["source"], a["name"], a["target"]["pod"], a["target"]["gpu"]) for a in doc["alerts"]}
    assert ("alertmanager", FB, one.target.pod, one.target.gpu) in seen
    assert ("alertmanager", FB, two.target.pod, two.target.gpu) in seen
    manager = {(a["name"], a["target"]["pod"], a["target"]["gpu"]) for a in doc["alerts"]
               if a["source"] == "alertmanager"}
    assert not [a for a in doc["alerts"] if a["source"] == "prometheus" and a["state"] == "firing"
                and (a["name"], a["target"]["pod"], a["target"]["gpu"]) in manager], "shown once, as Alertmanager's"
    assert not [a for a in doc["alerts"] if a["source"] == "builtin"], "Prometheus has all four rules"

    several = llmctl(tmp_path, "--alertmanager", mgr, "silence", "create", "--alert", FB, "-d", "1h", "-c", "leak")
    assert several.returncode == 2 and f"alerts named {FB}" in several.stderr and "add a matcher" in several.stderr
    created = llmctl(tmp_path, "--alertmanager", mgr, "silence", "create", "--alert", FB, "--matcher",
                     f"pod={one.target.pod}", "--duration", "1h", "--comment", "leak, ticket 42")
    assert created.returncode == 0, created.stderr
    sid = created.stdout.strip()
    assert uuid.UUID(sid) and "until" in created.stderr

    listing = json.loads(llmctl(tmp_path, "silence", "list", "-o", "json", "--alertmanager", mgr).stdout)
    [mine] = [s for s in listing["silences"] if s["id"] == sid]
    assert (mine["state"], mine["created_by"], mine["comment"]) == ("active", "bob", "leak, ticket 42")
    assert mine["matchers"] == [str(m) for m in matchers_for(one)]

    table = llmctl(tmp_path, "alerts", "--kubeconfig", kc, "--alertmanager", mgr)
    [line] = [x for x in table.stdout.splitlines() if sid in x]
    assert line.split()[:4] == ["warning", "silenced", "alertmanager", FB] and one.target.pod in line

    expired = llmctl(tmp_path, "silence", "expire", sid, "--alertmanager", mgr)
    assert (expired.returncode, expired.stdout.strip()) == (0, f"silence {sid} expired")
    assert am.silence(sid).state == "expired"
    entries = AuditLog(tmp_path / "state" / "llmctl" / "audit.jsonl").entries()
    assert [(e["action"], e["mode"], e["user"]) for e in entries] == [
        ("silence-create", "refused", "bob"), ("silence-create", "applied", "bob"),
        ("silence-expire", "applied", "bob")]


# ---- the same from the console's Alerts panel ------------------------------------------------------------------


async def test_silence_from_the_panel_reaches_alertmanager_and_expires(alert_stack: AlertStack,
                                                                       tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    settings = Settings(prometheus_url=alert_stack.prometheus.url, alertmanager_url=alert_stack.alertmanager.url,
                        alerts_refresh=1.0, audit_log=str(audit), builtin_rules=False)
    app = console_app(KubeClusterService(alert_stack.kubeconfig), settings)
    am = AlertmanagerClient(alert_stack.alertmanager.url)
    async with app.run_test(size=(170, 45)) as pilot:
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), what="alerts screen")
        table = app.screen.query_one("#alerts-table", DataTable)

        def fb_rows() -> list[list[str]]:
            return [r for r in rows(table) if FB in r[3] and r[2] == "alertmanager"]

        await wait_for(pilot, fb_rows, timeout=90, what="the leak's alert from Alertmanager in the panel")
        assert not [r for r in rows(table) if FB in r[3] and r[2] == "prometheus" and r[1] == "firing"], \
            "Prometheus's copy of an alert Alertmanager shows is not listed twice"
        status = str(app.screen.query_one("#alerts-status").render())
        assert "Prometheus ✓" in status and "alert rules defined" in status and "Alertmanager ✓" in status

        index = next(i for i, r in enumerate(rows(table)) if FB in r[3] and r[2] == "alertmanager")
        table.move_cursor(row=index)
        pod = rows(table)[index][4].split()[0].split("/")[1]
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), what="silence form")
        form = app.screen
        matchers = form.query_one("#field-matchers", Input).value
        assert f'alertname="{FB}"' in matchers and f'pod="{pod}"' in matchers
        form.query_one("#field-duration", Input).value = "1h"
        form.query_one("#field-comment", Input).value = "leak under investigation"
        form.query_one("#field-comment", Input).focus()
        await pilot.press("enter")

        def mine() -> list:
            return [s for s in am.silences() if s.comment == "leak under investigation" and s.state == "active"]

        await wait_for(pilot, mine, timeout=20, what="the silence in Alertmanager")
        [silence] = mine()
        assert ", ".join(str(m) for m in silence.matchers) == matchers
        silences = app.screen.query_one("#silences", DataTable)
        await wait_for(pilot, lambda: any(r[0] == silence.id[:8] for r in rows(silences)), timeout=20,
                       what="the silence listed in the panel")
        await wait_for(pilot, lambda: any(r[1] == "silenced" and pod in r[4] for r in rows(table)), timeout=20,
                       what="the alert shown as silenced")

        silences.move_cursor(row=next(i for i, r in enumerate(rows(silences)) if r[0] == silence.id[:8]))
        silences.focus()  # issue 14: x acts on the silences list only, and asks first
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ExpireSilenceDialog), what="the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: am.silence(silence.id).state == "expired", timeout=20, what="expired")

    entries = [e for e in AuditLog(audit).entries() if e["target"] == f"silence/{silence.id}"]
    assert [(e["action"], e["mode"]) for e in entries] == [("silence-create", "applied"),
                                                           ("silence-expire", "applied")]
