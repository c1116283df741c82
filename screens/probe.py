"""``P`` (and ``:probe [SERVICE]``): ask a model Service one question, as ``llmctl probe`` does, without leaving
the screen — on a Deployment (the Service in front of it), a dashboard Deployment row or a Service row of
``:svc``. The request goes through the API server's service proxy in a worker of the app, so the UI never
waits and the answer still arrives after the screen is left; one probe runs at a time.

The outcome is a notification: the answer (its first :data:`ANSWER_CHARS` characters), TTFT, latency,
tokens/s and the pod that answered — or one line saying why there is no answer (forbidden, no Service
selects the Deployment, the server's error). A probe changes nothing in the cluster: it is not an audited
action, and it is not refused in read-only mode.
"""

from __future__ import annotations

import re
from typing import Any

from textual.app import App
from textual.worker import WorkerState

from screens.host import host

GROUP = "probe"
ANSWER_CHARS = 200
PROMPT = "In one sentence: are you up?"
NOTE_TIMEOUT_S = 20.0
_VERB = re.compile(r'cannot (\w+) resource "services/proxy"')


def running(app: App[Any]) -> bool:
    return any(w.group == GROUP and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers)


def start(app: App[Any], namespace: str, *, service: str | None = None, deployment: str | None = None) -> bool:
    """Probe ``service`` (``NAME`` or ``NAME:PORT``) or the Service in front of ``deployment`` in ``namespace``.
    False (and a warning) when a probe is already running or the name is not one."""
    from console.serving.client import parse_service

    if running(app):
        app.notify("a probe is already running — its answer comes as a notification", severity="warning")
        return False
    ref = None
    if service is not None:
        try:
            ref = parse_service(service, namespace)
        except ValueError as exc:
            app.notify(f"probe: {exc}", severity="error")
            return False
    elif deployment is None:
        raise ValueError("a probe needs a Service or a Deployment")
    what = str(ref) if ref else f"the Service of {namespace}/{deployment}"
    app.notify(f"probing {what}…", timeout=3)
    app.run_worker(_probe(app, namespace, ref, deployment), group=GROUP, name=f"probe {what}", exit_on_error=False)
    return True


def probe_deployment(app: App[Any], row: Any) -> None:
    """``P`` on a Deployment (a :class:`~console.core.model.DeploymentRow`, None when none is selected)."""
    if row is None:
        app.notify("no Deployment selected to probe", severity="warning")
    else:
        start(app, row.namespace or "default", deployment=row.name)


def forbidden_text(namespace: str, message: str) -> str:
    """The one line a 403 from the service proxy gives."""
    verb = m.group(1) if (m := _VERB.search(message)) else "create"
    return (f"forbidden: cannot {verb} services/proxy in namespace {namespace} — a probe needs get and create on "
            "services/proxy (the edit and admin roles have them, view has not)")


async def _probe(app: App[Any], namespace: str, ref: Any, deployment: str | None) -> None:
    from console.kube.errors import KubeError
    from console.serving.client import ServingClient, ServingError, service_for_deployment

    label = str(ref) if ref else f"deployment {namespace}/{deployment}"
    try:
        _, transport = await host(app).services.access.connect()
    except KubeError as exc:
        _failed(app, label, exc.message)
        return
    try:
        if ref is None:
            assert deployment is not None
            ref = await service_for_deployment(transport, namespace, deployment)
            label = str(ref)
        client = ServingClient(transport, ref)
        await client.resolve()
        label = str(client.service)
        reply = await client.chat(PROMPT)
    except (KubeError, ServingError) as exc:
        message = exc.message if isinstance(exc, KubeError) else str(exc)
        forbidden = "HTTP 403" in message or (isinstance(exc, KubeError) and exc.code == 403)
        _failed(app, label, forbidden_text(namespace, message) if forbidden else message)
        return
    finally:
        await transport.close()
    if not reply.ok:
        error = reply.error or f"HTTP {reply.status}"
        _failed(app, label, forbidden_text(namespace, error) if reply.status == 403 else error)
        return
    app.notify(result_text(reply), title=f"Probe {label} — model {reply.model or client.model}",
               timeout=NOTE_TIMEOUT_S)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def result_text(reply: Any) -> str:
    """The answer (shortened) and its figures, for the notification."""
    answer = " ".join(reply.text.split()) or "(empty answer)"
    if len(answer) > ANSWER_CHARS:
        answer = answer[:ANSWER_CHARS - 1] + "…"
    rate = reply.tokens_per_s
    return (f"{answer}\n"
            f"pod {reply.pod or '(not reported by the server)'}"
            + (f" (routed to {reply.routed_to})" if reply.routed_to else "") + "\n"
            f"TTFT {_ms(reply.ttft_s)} · latency {_ms(reply.latency_s)} · "
            + (f"{rate:.1f} tokens/s" if rate is not None else "tokens/s -"))


def _failed(app: App[Any], label: str, message: str) -> None:
    app.notify(" ".join(message.split()), title=f"Probe {label} failed", severity="error", timeout=NOTE_TIMEOUT_S)
