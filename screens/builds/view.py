"""How the Builds screen draws things: log lines per build event, list rows, layer rows, lint findings,
push progress, the one-line summary the dashboard shows. Plain functions over the build model."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text

from console.builds.model import (
    BuildCancelled,
    BuildEvent,
    BuildFailed,
    BuildRecord,
    BuildRequest,
    BuildState,
    BuildSucceeded,
    ImageInfo,
    ImageSummary,
    LayerProgress,
    LintFinding,
    Severity,
    StageFinished,
    StageSummary,
    StepFinished,
    StepOutput,
    StepStarted,
    layer_instruction,
)
from console.builds.request import BadBuildRequest, build_request
from console.core.units import decimal_size

LIST_COLUMNS = ("#", "STATE", "STEP", "TIME", "CACHED", "SIZE", "IMAGE")  # numbers first: the name can be long
LAYER_COLUMNS = ("SIZE", "SHARE", "INSTRUCTION")
SLOW_STEP = 10.0  # seconds: a step slower than this is drawn in yellow
STATE_STYLE = {BuildState.RUNNING: "bold yellow", BuildState.SUCCEEDED: "bold green", BuildState.FAILED: "bold red",
               BuildState.CANCELLED: "yellow"}
SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def event_lines(event: BuildEvent) -> list[Text]:
    """The log lines one build event adds."""
    if isinstance(event, StepStarted):
        line = Text.assemble((f"Step {event.step}/{event.total} ", "bold"))
        if event.stage:
            line.append(f"[{event.stage}] ", style="cyan")
        line.append(event.instruction)
        return [line]
    if isinstance(event, StepOutput):
        return [Text("    " + event.line, style="dim yellow" if event.warning else "")]
    if isinstance(event, StepFinished):
        if event.cached:
            return [Text(f"    → using cache ({event.seconds:.2f}s)", style="green")]
        style = "yellow" if event.seconds >= SLOW_STEP else "dim"
        return [Text(f"    → {event.seconds:.2f}s", style=style)]
    if isinstance(event, StageFinished):
        return [Text(f"stage {event.stage} done → {event.image_id.removeprefix('sha256:')[:12]}", style="dim cyan")]
    if isinstance(event, BuildSucceeded):
        cached = sum(1 for s in event.steps if s.cached)
        size = f"; {decimal_size(event.image.size)}" if event.image else ""
        return [Text(f"built {', '.join(event.tags) or event.image_id[:19]} in {event.seconds:.1f}s: "
                     f"{len(event.steps)} steps, {cached} from cache{size}", style="bold green")]
    if isinstance(event, BuildFailed):
        where = f" at step {event.step}/{event.total} ({event.instruction})" if event.step else ""
        lines = [Text(f"FAILED{where}: {event.message}", style="bold red")]
        if event.last_lines:
            lines.append(Text("last output of the failing step:", style="red"))
            lines += [Text("    " + line, style="red") for line in event.last_lines]
        return lines
    if isinstance(event, BuildCancelled):
        at = f" at step {event.step}" if event.step else ""
        return [Text(f"cancelled{at} after {event.seconds:.1f}s; the engine stopped the build", style="bold yellow")]
    return []


def apply_event(record: BuildRecord, event: BuildEvent) -> BuildRecord:
    """The list's record after one event (step counter, state, image, failure message)."""
    from dataclasses import replace

    if isinstance(event, StepStarted):
        return replace(record, step=event.step, total=event.total, seconds=time.time() - record.started)
    if isinstance(event, StepFinished):
        return replace(record, cached=record.cached + int(event.cached), seconds=time.time() - record.started)
    if isinstance(event, BuildSucceeded):
        return replace(record, state=BuildState.SUCCEEDED, seconds=event.seconds, image=event.image,
                       step=record.total or record.step)
    if isinstance(event, BuildFailed):
        where = f"step {event.step}/{event.total}: " if event.step else ""
        return replace(record, state=BuildState.FAILED, seconds=event.seconds or record.seconds,
                       message=where + event.message)
    if isinstance(event, BuildCancelled):
        return replace(record, state=BuildState.CANCELLED, seconds=event.seconds, message="cancelled")
    return record


def record_cells(r: BuildRecord) -> tuple[object, ...]:
    step = f"{r.step}/{r.total}" if r.total else "-"
    size = decimal_size(r.image.size) if r.image else "-"
    state = Text("pushed", style="bold green") if r.pushed else Text(r.state.value, style=STATE_STYLE[r.state])
    return (f"#{r.number}", state, step, f"{r.seconds:.1f}s",
            str(r.cached), size, r.tag)


def image_cells(i: ImageSummary) -> tuple[object, ...]:
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(i.created)) if i.created else "-"
    return ("img", Text("local image", style="dim"), "-", created, "-", decimal_size(i.size), i.reference)


def layer_rows(image: ImageInfo) -> list[tuple[str, tuple[object, ...]]]:
    """Layers with data, largest first, with their share of the image."""
    rows = []
    for index, layer in enumerate(image.largest_layers):
        share = f"{100 * layer.size / image.size:.0f}%" if image.size else "-"
        rows.append((f"{index}:{layer.id}", (decimal_size(layer.size), share, layer_instruction(layer.created_by))))
    return rows


def image_facts(image: ImageInfo, stages: Iterable[StageSummary] = ()) -> Text:
    """Size, CUDA, user, volumes, labels and the stage structure of an image."""
    text = Text()
    text.append(f"{image.reference}  ", style="bold")
    text.append(f"{image.id.removeprefix('sha256:')[:12]}  {decimal_size(image.size)}  "
                f"{len(image.largest_layers)} layers with data / {len(image.layers)} history entries\n", style="dim")
    cuda = image.cuda_version
    text.append("CUDA_VERSION ", style="dim")
    text.append((cuda or "not set") + "  ", style="bold" if cuda else "yellow")
    text.append("user ", style="dim")
    text.append((image.user or "root") + "  ", style="yellow" if not image.user or image.user in ("0", "root") else "")
    if image.volumes:
        text.append("volumes ", style="dim")
        text.append(", ".join(image.volumes) + "  ")
    if image.labels:
        text.append("labels ", style="dim")
        text.append(", ".join(f"{k}={v}" for k, v in image.labels))
    stages = list(stages)
    if stages:
        text.append("\nstages ", style="dim")
        text.append(" → ".join(f"{s.name} (FROM {s.base}: {s.steps} steps, {s.cached} cached, {s.seconds:.1f}s)"
                               for s in stages))
    return text


def findings_view(findings: list[LintFinding]) -> Text:
    if not findings:
        return Text("no lint findings", style="green")
    text = Text()
    for f in findings:
        text.append(f"{f.severity.value} ", style=SEVERITY_STYLE[f.severity])
        text.append(f.rule, style="bold")
        text.append(f": {f.message}\n")
        text.append(f"  why: {f.reason}\n", style="dim")
    text.rstrip()
    return text


def push_view(reference: str, layers: dict[str, LayerProgress], result: str = "") -> Text:
    """One line per layer: status and a bar when the engine says how far it is."""
    text = Text(f"push {reference}\n", style="bold")
    for layer in layers.values():
        text.append(f"  {layer.layer}  {layer.status:<20}")
        if layer.total and layer.status == "Pushing":
            done = min(layer.current / layer.total, 1.0)
            text.append(" " + "█" * int(done * 20) + "░" * (20 - int(done * 20)), style="cyan")
            text.append(f" {decimal_size(layer.current)}/{decimal_size(layer.total)}")
        text.append("\n")
    if result:
        text.append(result, style="bold red" if result.startswith("push failed") else "bold green")
    return text


def request_from_form(values: dict[str, str]) -> BuildRequest | str:
    """A BuildRequest from the form, or what is wrong with it (the same rule as ``llmctl build``)."""
    try:
        return build_request(values.get("context") or ".", values.get("dockerfile") or "Dockerfile",
                             [values.get("tag", "")], values.get("target") or None, values.get("args", "").split())
    except BadBuildRequest as exc:
        return str(exc)
