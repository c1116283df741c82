"""How the Builds screen draws things: log lines per build event, list rows, layer rows, lint findings,
push progress, the one-line summary the dashboard shows. Plain functions over the build model."""

from __future__ import annotations

import time
from collections.abc import Iterable

from textual.content import Content

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
from screens.widgets import tone

LIST_COLUMNS = ("#", "STATE", "STEP", "TIME", "CACHED", "SIZE", "IMAGE")  # numbers first: the name can be long
LAYER_COLUMNS = ("SIZE", "SHARE", "INSTRUCTION")
SLOW_STEP = 10.0  # seconds: a step slower than this is drawn in the warning tone
STATE_STYLE = {BuildState.RUNNING: tone.bold(tone.WARNING), BuildState.SUCCEEDED: tone.bold(tone.SUCCESS),
               BuildState.FAILED: tone.bold(tone.ERROR), BuildState.CANCELLED: tone.WARNING}
SEVERITY_STYLE = {Severity.ERROR: tone.bold(tone.ERROR), Severity.WARNING: tone.WARNING, Severity.INFO: tone.INFO}


def event_lines(event: BuildEvent) -> list[Content]:
    """The log lines one build event adds."""
    if isinstance(event, StepStarted):
        stage = (f"[{event.stage}] ", tone.INFO) if event.stage else ""
        return [Content.assemble((f"Step {event.step}/{event.total} ", "bold"), stage, event.instruction)]
    if isinstance(event, StepOutput):
        return [Content.styled("    " + event.line, f"dim {tone.WARNING}" if event.warning else "")]
    if isinstance(event, StepFinished):
        if event.cached:
            return [Content.styled(f"    → using cache ({event.seconds:.2f}s)", tone.SUCCESS)]
        style = tone.WARNING if event.seconds >= SLOW_STEP else tone.MUTED
        return [Content.styled(f"    → {event.seconds:.2f}s", style)]
    if isinstance(event, StageFinished):
        return [Content.styled(f"stage {event.stage} done → {event.image_id.removeprefix('sha256:')[:12]}",
                               f"dim {tone.INFO}")]
    if isinstance(event, BuildSucceeded):
        cached = sum(1 for s in event.steps if s.cached)
        size = f"; {decimal_size(event.image.size)}" if event.image else ""
        return [Content.styled(f"built {', '.join(event.tags) or event.image_id[:19]} in {event.seconds:.1f}s: "
                               f"{len(event.steps)} steps, {cached} from cache{size}", tone.bold(tone.SUCCESS))]
    if isinstance(event, BuildFailed):
        where = f" at step {event.step}/{event.total} ({event.instruction})" if event.step else ""
        lines = [Content.styled(f"FAILED{where}: {event.message}", tone.bold(tone.ERROR))]
        if event.last_lines:
            lines.append(Content.styled("last output of the failing step:", tone.ERROR))
            lines += [Content.styled("    " + line, tone.ERROR) for line in event.last_lines]
        return lines
    if isinstance(event, BuildCancelled):
        at = f" at step {event.step}" if event.step else ""
        return [Content.styled(f"cancelled{at} after {event.seconds:.1f}s; the engine stopped the build",
                               tone.bold(tone.WARNING))]
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
    state = (Content.styled("pushed", tone.bold(tone.SUCCESS)) if r.pushed
             else Content.styled(r.state.value, STATE_STYLE[r.state]))
    return (f"#{r.number}", state, step, f"{r.seconds:.1f}s",
            str(r.cached), size, r.tag)


def image_cells(i: ImageSummary) -> tuple[object, ...]:
    created = time.strftime("%Y-%m-%d %H:%M", time.localtime(i.created)) if i.created else "-"
    return ("img", Content.styled("local image", tone.MUTED), "-", created, "-", decimal_size(i.size), i.reference)


def layer_rows(image: ImageInfo) -> list[tuple[str, tuple[object, ...]]]:
    """Layers with data, largest first, with their share of the image."""
    rows = []
    for index, layer in enumerate(image.largest_layers):
        share = f"{100 * layer.size / image.size:.0f}%" if image.size else "-"
        rows.append((f"{index}:{layer.id}", (decimal_size(layer.size), share, layer_instruction(layer.created_by))))
    return rows


def image_facts(image: ImageInfo, stages: Iterable[StageSummary] = ()) -> Content:
    """Size, CUDA, user, volumes, labels and the stage structure of an image."""
    cuda = image.cuda_version
    root = not image.user or image.user in ("0", "root")
    parts: list[str | tuple[str, str]] = [
        (f"{image.reference}  ", "bold"),
        (f"{image.id.removeprefix('sha256:')[:12]}  {decimal_size(image.size)}  "
         f"{len(image.largest_layers)} layers with data / {len(image.layers)} history entries\n", tone.MUTED),
        ("CUDA_VERSION ", tone.MUTED), ((cuda or "not set") + "  ", "bold" if cuda else tone.WARNING),
        ("user ", tone.MUTED), ((image.user or "root") + "  ", tone.WARNING if root else "")]
    if image.volumes:
        parts += [("volumes ", tone.MUTED), ", ".join(image.volumes) + "  "]
    if image.labels:
        parts += [("labels ", tone.MUTED), ", ".join(f"{k}={v}" for k, v in image.labels)]
    stages = list(stages)
    if stages:
        parts += [("\nstages ", tone.MUTED),
                  " → ".join(f"{s.name} (FROM {s.base}: {s.steps} steps, {s.cached} cached, {s.seconds:.1f}s)"
                             for s in stages)]
    return Content.assemble(*parts)


def findings_view(findings: list[LintFinding]) -> Content:
    if not findings:
        return Content.styled("no lint findings", tone.SUCCESS)
    parts: list[str | tuple[str, str]] = []
    for f in findings:
        parts += [(f"{f.severity.value} ", SEVERITY_STYLE[f.severity]), (f.rule, "bold"), f": {f.message}\n",
                  (f"  why: {f.reason}\n", tone.MUTED)]
    return Content.assemble(*parts).rstrip()


def push_view(reference: str, layers: dict[str, LayerProgress], result: str = "") -> Content:
    """One line per layer: status and a bar when the engine says how far it is."""
    parts: list[str | tuple[str, str]] = [(f"push {reference}\n", "bold")]
    for layer in layers.values():
        parts.append(f"  {layer.layer}  {layer.status:<20}")
        if layer.total and layer.status == "Pushing":
            done = min(layer.current / layer.total, 1.0)
            parts += [(" " + "█" * int(done * 20) + "░" * (20 - int(done * 20)), tone.INFO),
                      f" {decimal_size(layer.current)}/{decimal_size(layer.total)}"]
        parts.append("\n")
    if result:
        parts.append((result, tone.bold(tone.ERROR) if result.startswith("push failed") else tone.bold(tone.SUCCESS)))
    return Content.assemble(*parts)


def request_from_form(values: dict[str, str]) -> BuildRequest | str:
    """A BuildRequest from the form, or what is wrong with it (the same rule as ``llmctl build``)."""
    try:
        return build_request(values.get("context") or ".", values.get("dockerfile") or "Dockerfile",
                             [values.get("tag", "")], values.get("target") or None, values.get("args", "").split())
    except BadBuildRequest as exc:
        return str(exc)
