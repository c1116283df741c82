"""A monkey at the keyboard: seeded random keys — alone, several per ``pilot.press``, and in bursts queued as one
terminal read — against the console on a sandbox, as admin, as a viewer and in read-only mode (issue 14).

The console must never crash (it still runs and answers ``?`` at the end; no unexpected error was logged), and
never act unasked: every change the console sent to the cluster has an audit entry ``applied`` preceded by a
``dry-run`` of the same action and target — the plan the user was shown and confirmed. A viewer and read-only mode
change nothing. ``q``, ctrl+q and ctrl+c are left out (they quit); quitting by ``:quit`` or the palette is recorded
instead of done.
"""

from __future__ import annotations

import contextlib
import json
import random
import string
from pathlib import Path
from typing import Any

import pytest

from console.app import LlmctlApp
from console.config import Settings
from console.kube.cluster import KubeClusterService
from console.kube.transport import KubeTransport
from console.sandbox.server import SandboxThread
from screens.dashboard import DashboardScreen
from screens.errorlog import ErrorLog
from screens.help import HelpScreen
from tests.ui.helpers import burst, console_app, wait_for

# × 3 roles: 1,350 keys a run (the suite must stay well under 15 minutes); MONKEY_KEYS=5000 for a long hunt.
KEYS_PER_ROLE = int(__import__("os").environ.get("MONKEY_KEYS", "450"))
SEED = 14
LETTERS = [c for c in string.ascii_lowercase if c != "q"] + list("DNARI")
SPECIAL = ["enter"] * 6 + ["escape"] * 4 + ["tab"] * 3 + ["up", "down"] * 3 + ["left", "right", "space", "backspace",
           "colon", "colon", "exclamation_mark", "question_mark", "slash", "ctrl+p", "ctrl+p",
           "left_square_bracket", "right_square_bracket"]
ALPHABET = LETTERS + list(string.digits) + SPECIAL
READS = ("/selfsubjectaccessreviews", "/subjectaccessreviews", "/selfsubjectrulesreviews")


def chunks(rng: random.Random, total: int) -> list[tuple[str, list[str]]]:
    """(how, keys): "press" sends the keys back to back through the driver, "burst" queues them as one read,
    "pause" waits a little before the keys."""
    out: list[tuple[str, list[str]]] = []
    sent = 0
    while sent < total:
        size = min(total - sent, rng.choice((1, 1, 1, 2, 3, 5, 8)))
        how = rng.choices(("press", "burst", "pause"), weights=(5, 4, 1))[0]
        out.append((how, [rng.choice(ALPHABET) for _ in range(size)]))
        sent += size
    return out


class ChangeRecorder:
    """Every change the console's transport sent to the API and the API accepted (not dry-runs, not reviews)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.changes: list[tuple[str, str, str]] = []  # (method, namespace, name)
        original = KubeTransport.request
        recorder = self

        async def request(transport: KubeTransport, method: str, path: str, query: Any = None, *args: Any,
                          **kwargs: Any) -> Any:
            answer = await original(transport, method, path, query, *args, **kwargs)
            dry = any(k == "dryRun" for k, _ in (query or []))
            if method != "GET" and not dry and not path.endswith(READS):
                recorder.changes.append((method, *target_of(path, kwargs.get("body"))))
            return answer

        monkeypatch.setattr(KubeTransport, "request", request)


def target_of(path: str, body: Any) -> tuple[str, str]:
    """(namespace, name) of a request's object: from its path, or a POST's body."""
    parts = path.strip("/").split("/")
    namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts else ""
    name = ""
    if "namespaces" in parts and len(parts) > parts.index("namespaces") + 3:
        name = parts[parts.index("namespaces") + 3]
    if not name and isinstance(body, dict):
        name = (body.get("metadata") or {}).get("name", "")
    return namespace, name


def confirmed(entries: list[dict[str, Any]], namespace: str, name: str) -> bool:
    """An ``applied`` entry for this object, after a ``dry-run`` of the same action and target (a rollback of a
    cancelled guided deployment answers to that deployment's own dry-run)."""
    for i, entry in enumerate(entries):
        ns, _, entry_name = str(entry.get("target", "")).split("/", 2)
        if entry["mode"] != "applied" or entry_name != name or ns not in (namespace, name):
            continue
        action = str(entry["action"]).removesuffix("-rollback")
        if any(e["mode"] == "dry-run" and e["action"] == action and e["target"] == entry["target"]
               for e in entries[:i]):
            return True
    return False


@pytest.mark.parametrize("role", ["admin", "viewer", "readonly"])
async def test_random_keys_never_crash_and_never_act_unasked(role: str, sb: SandboxThread, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the wizard's `w` writes files here
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # its saved progress
    recorder = ChangeRecorder(monkeypatch)
    audit_path = tmp_path / "audit.jsonl"
    context = "sandbox-viewer" if role == "viewer" else "sandbox-admin"
    app: LlmctlApp = console_app(KubeClusterService(sb.info.kubeconfig, context=context),
                                 Settings(audit_log=str(audit_path), readonly=role == "readonly"))
    app.error_log = ErrorLog(tmp_path / "llmctl.log")
    quits: list[str] = []
    rng = random.Random(f"{SEED}-{role}")
    async with app.run_test(size=(150, 40)) as pilot:
        exit_app = app.exit
        app.exit = lambda *args, **kwargs: quits.append("quit")  # type: ignore[method-assign]
        app.deliver_screenshot = lambda *args, **kwargs: None  # type: ignore[method-assign]
        await wait_for(pilot, lambda: bool(app.snapshot.deployments), what="deployments listed")
        if role != "readonly":
            await wait_for(pilot, lambda: bool(app.permissions), what="permissions probed")
        for how, keys in chunks(rng, KEYS_PER_ROLE):
            if how == "burst":
                burst(app, *keys)
                await pilot.pause(0.02)
            else:
                if how == "pause":
                    await pilot.pause(0.1)
                await pilot.press(*keys)
            assert app._exception is None and app.crash is None, f"crashed after {keys}"
        # every key sent has been handled (on a loaded machine the queue may still hold some)
        await wait_for(pilot, lambda: not app.keys.waiting and not app.keys._busy, timeout=120,
                       what="the keys sent are all handled")
        await pilot.pause(0.5)
        assert app.is_running and app._exception is None and app.crash is None
        # Back to the dashboard as a user would: again if a flow the last keys started (a plan being dry-run)
        # pushed its dialog after the first go.
        def back() -> bool:
            return (isinstance(app.screen, DashboardScreen) and app.screen.focused is not None
                    and app.screen.focused.id == "deployments")
        for _ in range(6):
            app.go_to("dashboard", "deployments")
            with contextlib.suppress(AssertionError):
                await wait_for(pilot, back, timeout=10)
            if back():
                break
        assert back(), ("back on the dashboard", [type(s).__name__ for s in app.screen_stack],
                        app.screen.focused and app.screen.focused.id)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help still opens")
        app.exit = exit_app  # type: ignore[method-assign]

    assert not app.error_log.path.exists(), app.error_log.path.read_text()
    entries = [json.loads(line) for line in audit_path.read_text().splitlines()] if audit_path.exists() else []
    unconfirmed = [c for c in recorder.changes if not confirmed(entries, c[1], c[2])]
    assert not unconfirmed, f"changes without a confirmed plan: {unconfirmed}"
    if role != "admin":
        assert not recorder.changes, f"a {role} changed the cluster: {recorder.changes}"
        assert not [e for e in entries if e["mode"] == "applied" and e["result"] == "ok"]
    if role == "readonly":
        assert {e["mode"] for e in entries} <= {"dry-run", "refused"}
