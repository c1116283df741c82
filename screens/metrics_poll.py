"""Metric refreshes for a screen: on a timer no faster than the data changes, in a thread worker, and only
while the screen is visible.

The services block (prometheus-api-client is synchronous), so a screen's whole refresh runs in one
``@work(thread=True, exclusive=True)`` worker: a slow Prometheus never stalls the UI, and a new refresh
replaces one still running instead of queueing behind it (the default executor has only 6 threads).
The worker posts one message; only its handler touches widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.worker import get_current_worker

from console.core.metrics import WINDOWS, ErrorKind, MetricsError, MetricsService
from screens.host import host

NOT_CONFIGURED = MetricsError(ErrorKind.NOT_CONFIGURED, "Prometheus not configured: start with --prometheus URL "
                                                        "(or LLMCTL_PROMETHEUS_URL, or prometheus_url in the config)")
WINDOW_BINDINGS = [Binding(str(i), f"window('{w}')", w) for i, w in enumerate(WINDOWS, start=1)]
# What every metrics screen offers: back, the chart windows, and a refresh that does not wait.
METRICS_SCREEN_BINDINGS = [
    Binding("escape", "app.switch_mode('dashboard')", "Back"),
    *WINDOW_BINDINGS,
    Binding("ctrl+r", "refresh_now", "Refresh now"),
]


class MetricsFetched(Message):
    """A screen's refresh finished (in its worker); ``payload`` is what its job returned."""

    def __init__(self, payload: Any) -> None:
        super().__init__()
        self.payload = payload


class MetricsPolling:
    """Mixin for a Screen. Subclasses set ``refresh_setting`` (a Settings field, seconds) and implement
    :meth:`metrics_job` (called on the UI thread; returns the blocking work) and :meth:`show_metrics`."""

    refresh_setting: ClassVar[str] = "latency_refresh"
    window: str = "15m"
    _poll_timer: Timer | None = None
    _poll_every: float = 0.0

    @property
    def metrics(self) -> MetricsService | None:
        return host(self).services.metrics

    @property
    def window_s(self) -> float:
        return WINDOWS[self.window]

    def poll_interval(self) -> float:
        """The configured refresh, but never faster than the source's data changes (its scrape interval)."""
        configured = float(getattr(host(self).settings, self.refresh_setting))
        return max(configured, self.metrics.min_refresh_s()) if self.metrics is not None else configured

    def show_not_configured(self, chart: Any) -> None:
        """No metrics source at all: say so in the chart and the status line."""
        self.error = NOT_CONFIGURED
        chart.show((), None, NOT_CONFIGURED, self.window_s)
        self._show_status()  # type: ignore[attr-defined]

    def on_screen_resume(self) -> None:
        self._schedule()
        if self._poll_timer is not None:
            self._poll_timer.resume()
        self.poll_now()

    def on_screen_suspend(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.pause()

    def _schedule(self) -> None:
        every = self.poll_interval()
        if self._poll_timer is not None and every == self._poll_every:
            return
        if self._poll_timer is not None:
            self._poll_timer.stop()
        self._poll_every = every
        hidden = not self.is_current  # type: ignore[attr-defined]  # a late result must not wake a hidden screen
        self._poll_timer = self.set_interval(every, self.poll_now, pause=hidden)  # type: ignore[attr-defined]

    def poll_now(self) -> None:
        if self.metrics is None:
            self.show_metrics(None)
            return
        self._poll(self.metrics_job(self.metrics))

    @work(thread=True, exclusive=True, exit_on_error=False, group="metrics")
    def _poll(self, job: Callable[[], Any]) -> None:
        payload = job()
        if not get_current_worker().is_cancelled:  # a newer refresh replaced this one: drop its result
            self.post_message(MetricsFetched(payload))  # type: ignore[attr-defined]

    def on_metrics_fetched(self, message: MetricsFetched) -> None:
        message.stop()
        self.show_metrics(message.payload)
        self._schedule()  # the scrape interval is known once the source has discovered it

    def action_window(self, window: str) -> None:
        self.window = window
        self.poll_now()

    # ---- for subclasses -------------------------------------------------------------------------
    def metrics_job(self, service: MetricsService) -> Callable[[], Any]:
        raise NotImplementedError

    def show_metrics(self, payload: Any) -> None:
        """Show a job's result; ``None`` means no metrics service is configured."""
        raise NotImplementedError
