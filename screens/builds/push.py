"""Pushing from the Builds screen: a form for the reference, a worker streaming per-layer progress,
and the push panel. Credentials stay with the Docker config (the engine reads them; never shown)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from textual import work
from textual.message import Message
from textual.widgets import Static

from console.builds.lint import validate_tag
from console.builds.model import (
    BuildServiceError,
    BuildState,
    LayerProgress,
    PushEvent,
    PushFailed,
    PushFinished,
)
from screens.builds.view import push_view
from screens.host import host
from screens.widgets.dialogs import FormDialog


@dataclass
class PushProgress(Message):
    number: int | None
    reference: str
    event: PushEvent



class PushMixin:
    """Push keys and handlers for the Builds screen (which provides records, app, query_one, notify)."""

    records: dict[int, Any]
    push_layers: dict[str, LayerProgress]
    query_one: Any
    notify: Any
    post_message: Any

    def selected_key(self) -> str:
        raise NotImplementedError

    def refresh_list(self) -> None:
        raise NotImplementedError

    # ---- push --------------------------------------------------------------------------------------------
    def action_push(self) -> None:
        if host(self).readonly:
            self.notify("read-only mode: push refused (started with --readonly)", severity="error")
            return
        key = self.selected_key()
        reference = ""
        if key.startswith("b:"):
            record = self.records[int(key[2:])]
            if record.state is not BuildState.SUCCEEDED:
                self.notify("only a successful build can be pushed", severity="warning")
                return
            reference = record.request.tags[0] if record.request.tags else ""
        elif key.startswith("i:"):
            reference = key[2:]
        if not key:
            return
        self.app.push_screen(FormDialog("Push an image", [("reference", "Push as (registry/repo:version)", reference)],
                                        "credentials come from the Docker config (docker login)"),
                             lambda values: self._push_form_done(key, values))

    def _push_form_done(self, key: str, values: dict[str, str] | None) -> None:
        if not values:
            return
        reference = values["reference"]
        problem = validate_tag(reference)
        if problem:
            self.notify(problem, severity="error")
            return
        number = int(key[2:]) if key.startswith("b:") else None
        source = self.records[number].image.id if number and self.records[number].image else key[2:]
        self.push_layers = {}
        self.query_one("#push-progress", Static).update(push_view(reference, {}))
        self.run_push(number, source, reference)

    @work(thread=True, exclusive=True, exit_on_error=False, group="builds-push")
    def run_push(self, number: int | None, source: str, reference: str) -> None:
        service = host(self).services.builds
        try:
            if source != reference:
                service.tag(source, reference)
            for event in service.push(reference):
                self.post_message(PushProgress(number, reference, event))
        except BuildServiceError as exc:
            self.post_message(PushProgress(number, reference, PushFailed(reference, str(exc))))

    def on_push_progress(self, message: PushProgress) -> None:
        event, result = message.event, ""
        if isinstance(event, LayerProgress):
            self.push_layers[event.layer] = event
        elif isinstance(event, PushFinished):
            result = f"pushed {event.reference} {event.digest[:19]}… in {event.seconds:.1f}s"
            if message.number is not None:
                record = self.records[message.number]
                self.records[message.number] = replace(record, pushed=(*record.pushed, event.reference))
                self.app.last_build = self.records[message.number]
                self.refresh_list()
        elif isinstance(event, PushFailed):
            result = f"push failed: {event.message}"
            self.notify(result, severity="error", timeout=10)
        self.query_one("#push-progress", Static).update(push_view(message.reference, self.push_layers, result))


