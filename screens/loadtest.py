"""Load test: put open-loop load on a Deployment's Service (through the API server's service proxy) and watch,
on one time axis, the QPS sent, p50/p99 and TTFT against the 500 ms line, and the Ready replicas — so the
HPA's reaction to the load is visible as it happens.

``s`` starts and stops, ``+``/``-`` change the rate (also while running: the next run uses it), ``p`` asks
one question as ``llmctl probe`` does (answer, TTFT, pod), Esc goes back. Reached with ``L`` from a
Deployment and the Latency screen, and ``:loadtest [[NAMESPACE/]DEPLOYMENT]``.
"""

from __future__ import annotations

import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Label, Static

from console.core.metrics import Series
from screens.host import host
from screens.widgets import tone
from screens.widgets.chart import Chart, seconds_label
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar

P99_LINE_S = 0.5
WINDOW_S = 300.0
RUN_S = 600.0  # one run lasts at most ten minutes (stop it earlier with s)
QPS_STEPS = (1, 2, 5, 10, 15, 20, 30, 50, 75, 100, 150, 200)


def _count_label(value: float) -> str:
    return f"{value:.0f}"


class LoadTestScreen(Screen[None]):
    """Live load test of one Deployment's Service."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back"), Binding("s", "toggle", "Start/stop"),
                Binding("plus,equals_sign", "faster", "+QPS"), Binding("minus", "slower", "-QPS"),
                Binding("p", "probe", "Probe")]

    def __init__(self, deployment: str, qps: float = 10.0, namespace: str | None = None) -> None:
        super().__init__()
        self.deployment = deployment
        self._namespace = namespace  # the Deployment's (None: the namespace shown); needed when every one is shown
        self.qps = qps
        self.running: Any = None  # the LoadRun in progress
        self.state = "idle"
        self.message = ""
        self.history: dict[str, list[tuple[float, float]]] = {k: [] for k in ("qps", "p50", "p99", "ttft", "replicas")}

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(id="loadtest"):
            yield Static("", id="loadtest-head")
            yield Chart("latency", threshold=P99_LINE_S, threshold_label="p99 500 ms", label=seconds_label,
                        id="loadtest-latency")
            yield Chart("QPS sent", label=_count_label, id="loadtest-qps")
            yield Chart("Ready replicas", label=_count_label, id="loadtest-replicas")
            yield Label("", id="loadtest-status", classes="panel-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show_head()

    @property
    def namespace(self) -> str:
        return self._namespace or host(self).default_namespace()

    # ---- keys -------------------------------------------------------------------------------------
    def action_toggle(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.state = "stopping"
            self._show_head()
        elif self.state in ("idle", "done", "failed"):
            self.state = "starting"
            self._show_head()
            self.run_load()

    def action_faster(self) -> None:
        self.qps = next((q for q in QPS_STEPS if q > self.qps), QPS_STEPS[-1])
        self._show_head()

    def action_slower(self) -> None:
        self.qps = next((q for q in reversed(QPS_STEPS) if q < self.qps), QPS_STEPS[0])
        self._show_head()

    def action_probe(self) -> None:
        if self.running is None:
            self.probe()

    async def _client(self) -> Any:
        """A resolved ServingClient for the Deployment's Service (raises KubeError / ServingError)."""
        from console.serving.client import ServingClient, service_for_deployment

        _, transport = await host(self).services.access.connect()
        try:
            client = ServingClient(transport, await service_for_deployment(transport, self.namespace,
                                                                           self.deployment))
            await client.resolve()
        except BaseException:
            await transport.close()
            raise
        return client

    @work(exclusive=True, exit_on_error=False, group="loadtest")
    async def probe(self) -> None:
        """One question, as ``llmctl probe``: the answer's timing and the pod that gave it."""
        from console.kube.errors import KubeError
        from console.serving.client import ServingError

        self.state, self.message = "probing", ""
        self._show_head()
        try:
            client = await self._client()
            try:
                reply = await client.chat("In one sentence: are you up?")
            finally:
                await client.transport.close()
            ttft = seconds_label(reply.ttft_s) if reply.ttft_s is not None else "-"
            self.state = "done" if reply.ok else "failed"
            self.message = (f"probe: TTFT {ttft}, latency {seconds_label(reply.latency_s)}, "
                            f"pod {reply.pod or '(not reported)'} — {reply.text.strip()[:60]}" if reply.ok
                            else f"probe: {reply.error}")
        except (KubeError, ServingError) as exc:
            self.state, self.message = "failed", str(exc)
        self._show_head()

    # ---- the run ----------------------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="loadtest")
    async def run_load(self) -> None:
        from console.kube.errors import KubeError
        from console.serving.client import ServingError
        from console.serving.loadtest import LoadPlan, LoadRun, prompt_mix

        transport = None
        try:
            client = await self._client()
            transport = client.transport
            self.running = LoadRun(client, LoadPlan(qps=self.qps, duration_s=RUN_S, prompts=prompt_mix(1, 0)))
            self.state, self.message = "running", f"{client.service} · model {client.model}"
            self._show_head()
            result = await self.running.run(lambda run: self.app.call_later(self._second, run))
            s = result["summary"]
            self.state = "done"
            self.message = (f"{s['requests']} requests, {100 * s['error_rate']:.1f}% errors, achieved "
                            f"{s['achieved_qps']:.1f} QPS, p99 {seconds_label(s['latency_s']['p99'] or 0)}")
        except (KubeError, ServingError) as exc:
            self.state, self.message = "failed", str(exc)
        finally:
            self.running = None
            if transport is not None:
                await transport.close()
            self._show_head()

    async def _second(self, run: Any) -> None:
        """Once a second while running: the last full second's figures, and the Ready replicas now."""
        row = run.live()
        now = time.time()
        if row:
            self._add("qps", now, row["qps"])
            for key, field in (("p50", "p50_s"), ("p99", "p99_s"), ("ttft", "ttft_p50_s")):
                if row.get(field) is not None:
                    self._add(key, now, row[field])
        replicas = await run.client.ready_endpoints()
        if replicas is not None:
            self._add("replicas", now, replicas)
        self._draw(now)

    def _add(self, key: str, at: float, value: float) -> None:
        points = self.history[key]
        points.append((at, float(value)))
        while points and points[0][0] < at - WINDOW_S:
            points.pop(0)

    def _draw(self, now: float) -> None:
        h = self.history
        self.query_one("#loadtest-latency", Chart).show(
            (Series("p50", tuple(h["p50"])), Series("p99", tuple(h["p99"])), Series("TTFT p50", tuple(h["ttft"]))),
            now, None, WINDOW_S)
        self.query_one("#loadtest-qps", Chart).show((Series("sent", tuple(h["qps"])),), now, None, WINDOW_S)
        self.query_one("#loadtest-replicas", Chart).show((Series("ready", tuple(h["replicas"])),), now, None,
                                                         WINDOW_S)
        last = {k: v[-1][1] for k, v in h.items() if v}
        p99 = last.get("p99")
        self.query_one("#loadtest-status", Label).update(Content.assemble(
            f"last second: {last.get('qps', 0):.0f} sent  p99 ",
            (seconds_label(p99) if p99 is not None else "-",
             tone.bold(tone.ERROR) if p99 is not None and p99 > P99_LINE_S else ""),
            f"  replicas {last.get('replicas', 0):.0f}"))

    def _show_head(self) -> None:
        style = {"running": tone.SUCCESS, "failed": tone.bold(tone.ERROR)}.get(self.state, tone.MUTED)
        self.query_one("#loadtest-head", Static).update(Content.assemble(
            (f"Load test — deployment/{self.deployment}", "bold"), f"  namespace {self.namespace}  ",
            (f"{self.qps:g} QPS open loop", tone.INFO), "  ", (self.state.upper(), style),
            f"  {self.message}\n",
            ("s start/stop · +/- rate · p probe · Esc back · streamed chat through the service proxy", tone.MUTED)))
