"""A pod's log (``l`` on a pod, or from the incident view): the last 200 lines, follow, search, the previous
container, a container picker (``c``); for a workload (``l`` on a Deployment) every pod's, each line prefixed
with its pod.

Lines come from the pods/log API through the cluster service's connection (console.kube.logs);
``f`` follows (a streaming request), ``p`` switches to the previous container's run — a crash-looping
container's last words — ``/`` searches (text or ``/regex/``; ``n``/``N`` next and previous match),
``t`` cycles the time window read (kubectl's ``--since``: all, 5m, 15m, 1h, 6h), ``w`` wraps long lines,
``ctrl+s``/``S`` saves the lines read to a file (0600).
"""

from __future__ import annotations

import asyncio
import time

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Input, Label, RichLog

from console.kube.logs import DEFAULT_LINES, LogError, SearchError, compile_pattern, next_since, since_label
from screens.host import host
from screens.widgets import tone
from screens.widgets.footer import KeyFooter
from screens.widgets.statusbar import StatusBar

MAX_LINES = 5000  # kept on screen while following


class LogsScreen(Screen[None]):
    BINDINGS = [
        Binding("f", "follow", "Follow on/off"),
        Binding("p", "previous", "Previous container"),
        Binding("c", "container", "Container"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match(1)", "Next match"),
        Binding("N", "next_match(-1)", "Previous match"),
        Binding("t", "since", "Since (time window)"),
        Binding("w", "wrap", "Wrap on/off"),
        Binding("ctrl+s,S", "save", "Save to file"),
        Binding("escape", "back", "Clear search / back"),
    ]

    def __init__(self, namespace: str, pod: str, container: str | None = None, lines: int = DEFAULT_LINES,
                 containers: list[str] | None = None, pods: list[str] | None = None) -> None:
        super().__init__()
        self.namespace, self.pod, self.container, self.lines = namespace, pod, container, lines
        self.containers = containers or []  # the pod's containers, for the picker (c)
        self.pods = pods or []  # a workload's pods: every one's log, prefixed with its name
        if self.container is None and self.containers:
            self.container = self.containers[0]
        self.following = False
        self.previous = False
        self.since: int | None = None  # sinceSeconds: only the lines of the last that many seconds
        self.wrap = False
        self.text: list[str] = []
        self.pattern = ""
        self.matches: list[int] = []
        self.match_at = -1
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Vertical(classes="panel", id="logs-panel"):
            yield Label("", classes="panel-title", id="logs-title")
            yield Label("reading…", id="logs-status", classes="panel-status")
            yield RichLog(id="log", wrap=False, highlight=False, max_lines=MAX_LINES, auto_scroll=True)
        yield Input(placeholder="search: text or /regex/ (enter keeps it, esc clears)", id="log-search")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#log-search", Input).display = False
        self._show_title()
        tone.on_theme_change(self, self.render_log)  # the log keeps what it drew: draw it in the new colours
        self.load()

    # ---- reading --------------------------------------------------------------------------------
    @work(exclusive=True, exit_on_error=False, group="logs")
    async def load(self) -> None:
        from console.kube.logs import tail

        app = host(self)
        transport = app.services.cluster.transport
        self.text = []
        self.error = None
        self.render_log()
        if transport is None:
            self.error = "not connected to the cluster"
            self.show_status()
            return
        queue: asyncio.Queue[str | LogError | None] = asyncio.Queue()

        async def read(pod: str, prefix: str) -> None:
            try:
                async for line in tail(transport, self.namespace, pod, None if self.pods else self.container,
                                       self.lines, follow=self.following, previous=self.previous,
                                       since=self.since):
                    await queue.put(prefix + line)
            except LogError as exc:
                await queue.put(LogError(exc.code, f"{pod}: {exc.message}" if prefix else exc.message))
            finally:
                await queue.put(None)

        pods = self.pods or [self.pod]
        readers = [asyncio.create_task(read(p, f"[{p}] " if self.pods else "")) for p in pods]
        try:
            running = len(readers)
            while running:
                item = await queue.get()
                if item is None:
                    running -= 1
                elif isinstance(item, LogError):
                    self.error = item.message
                else:
                    self.text.append(item)
                    if len(self.text) > MAX_LINES:
                        del self.text[: len(self.text) - MAX_LINES]
                    self._append(item)
        finally:
            for reader in readers:
                reader.cancel()
        self.show_status()

    def _show_title(self) -> None:
        what = (f"{len(self.pods)} pods" if self.pods else
                f"{self.pod}" + (f" [{self.container}]" if self.container and len(self.containers) > 1 else ""))
        window = f" · since {since_label(self.since)}" if self.since else ""
        self.query_one("#logs-title", Label).update(f"Logs — {self.namespace}/{what}{window}")

    @work(exclusive=True, exit_on_error=False, group="logs-container")
    async def action_container(self) -> None:
        """Pick which container's log to show (a pod with more than one)."""
        from screens.widgets.picker import PickerDialog

        if len(self.containers) < 2:
            self.notify("this pod has one container" if not self.pods else "pick a pod's log with l on the pod",
                        severity="warning")
            return
        choice = await self.app.push_screen_wait(PickerDialog(f"Container of {self.pod}",
                                                              [(c, c) for c in self.containers]))
        if choice and choice != self.container:
            self.container = choice
            self._show_title()
            self.load()

    def _append(self, line: str) -> None:
        log = self.query_one("#log", RichLog)
        log.write(tone.rich(self._styled(line), wrap=self.wrap))
        if self.pattern:
            self._find()
        self.show_status()

    def _styled(self, line: str) -> Content:
        text = Content(line)
        if self.pattern:
            try:
                compiled = compile_pattern(self.pattern)
            except SearchError:
                compiled = None
            if compiled is not None:
                text = text.highlight_regex(compiled, style=tone.MATCH)
        return text

    def render_log(self) -> None:
        log = self.query_one("#log", RichLog)
        log.clear()
        for line in self.text:
            log.write(tone.rich(self._styled(line), wrap=self.wrap))

    def show_status(self) -> None:
        parts = [f"{len(self.text)} lines", "following" if self.following else "not following",
                 "previous container" if self.previous else "current container"]
        if self.since:
            parts.append(f"since {since_label(self.since)}")
        if self.wrap:
            parts.append("wrapped")
        if self.pattern:
            where = f"{self.match_at + 1}/{len(self.matches)}" if self.matches else "no match"
            parts.append(f"search {self.pattern!r}: {where}")
        status = Content.styled(" · ".join(parts), tone.MUTED)
        if self.error:
            status = Content.styled(self.error, tone.bold(tone.ERROR))
        for label in self.query("#logs-status").results(Label):  # none once the screen has closed (a late read)
            label.update(status)

    # ---- keys -----------------------------------------------------------------------------------
    def action_follow(self) -> None:
        if self.previous:
            self.notify("the previous container's log cannot be followed: it has ended", severity="warning")
            return
        self.following = not self.following
        self.load()

    def action_previous(self) -> None:
        self.previous = not self.previous
        if self.previous:
            self.following = False
        self.load()

    def action_since(self) -> None:
        """The next time window (all → 5m → 15m → 1h → 6h → all): the log is read again for it."""
        self.since = next_since(self.since)
        self._show_title()
        self.load()

    def action_wrap(self) -> None:
        """Long lines wrapped to the width, or cut (one screen line per log line)."""
        self.wrap = not self.wrap
        self.query_one("#log", RichLog).wrap = self.wrap
        self.render_log()
        self.show_status()

    def default_save_path(self) -> str:
        who = self.pod
        if self.pods:  # a workload's pods share the leading parts of their names: the file is named after those
            common: list[str] = []
            for parts in zip(*(name.split("-") for name in self.pods), strict=False):
                if len(set(parts)) > 1:
                    break
                common.append(parts[0])
            who = "-".join(common) or self.pod
        parts = [who] + ([self.container] if self.container and not self.pods else [])
        return f"./{'-'.join(parts)}-{time.strftime('%Y%m%d-%H%M%S')}.log"

    @work(exclusive=True, exit_on_error=False, group="logs-save")
    async def action_save(self) -> None:
        """Write the lines read (all of them, not only those on screen; no colours) to a file, mode 0600."""
        from console.kube.logs import save
        from screens.widgets.dialogs import FormDialog
        from screens.widgets.picker import PickerDialog

        if not self.text:
            self.notify("no lines to save", severity="warning")
            return
        lines = list(self.text)  # what is shown now: a follow may add lines while the dialog is open
        answer = await self.app.push_screen_wait(FormDialog(
            f"Save {len(lines)} log lines", [("path", "File", self.default_save_path())],
            hint="written readable by you only (0600); enter saves, esc cancels"))
        path = (answer or {}).get("path", "")
        if not path:
            return
        try:
            written = save(path, lines)
        except FileExistsError:
            choice = await self.app.push_screen_wait(PickerDialog(
                f"{path} exists", [("keep", "Keep it (do not save)"), ("overwrite", "Overwrite it")]))
            if choice != "overwrite":
                self.notify("not saved", severity="warning")
                return
            try:
                written = save(path, lines, overwrite=True)
            except OSError as exc:
                self.notify(f"cannot save the log to {path}: {exc.strerror or exc}", severity="error")
                return
        except OSError as exc:
            self.notify(f"cannot save the log to {path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"saved {len(lines)} lines to {written}")

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True
        box.value = self.pattern
        box.focus()

    def action_back(self) -> None:
        box = self.query_one("#log-search", Input)
        if box.display or self.pattern:  # first esc clears the search, the next one leaves
            box.display = False
            self.pattern = ""
            self.matches = []
            self.render_log()
            self.show_status()
            return
        self.app.pop_screen()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        self.pattern = event.value
        try:
            compile_pattern(self.pattern)
        except SearchError as exc:
            self.error = str(exc)
            self.pattern = ""
            self.show_status()
            return
        self.error = None
        self.render_log()
        self._find()
        if self.matches:
            self.match_at = len(self.matches) - 1  # the newest match first: that is where a crash is
            self._scroll_to_match()
        self.show_status()

    def _find(self) -> None:
        from console.kube.logs import search

        self.matches = search(self.text, self.pattern) if self.pattern else []
        if self.match_at >= len(self.matches):
            self.match_at = len(self.matches) - 1

    def action_next_match(self, step: int) -> None:
        if not self.matches:
            self.notify("no match" if self.pattern else "search first (/)", severity="warning")
            return
        self.match_at = (self.match_at + step) % len(self.matches)
        self._scroll_to_match()
        self.show_status()

    def _scroll_to_match(self) -> None:
        log = self.query_one("#log", RichLog)
        log.auto_scroll = False
        log.scroll_to(y=max(self.matches[self.match_at] - 2, 0), animate=False)
