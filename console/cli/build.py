"""Headless ``llmctl build``: lint, streamed build, layers and push — the Builds screen's service, for
scripts and CI. ``llmctl build --init [PATH]`` writes the shipped Dockerfile and .dockerignore.

Exit codes: 0 built (and pushed), 1 the build, the push or the engine failed (the message names the
failing step) or --init would overwrite, 2 usage error (bad tag, bad --build-arg, no such context or
Dockerfile), 130 interrupted (the build is cancelled on the engine first).
With ``-o json`` stdout is one JSON document; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TextIO

from console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, OUTPUTS, STRUCTURED, dump, positive

if TYPE_CHECKING:
    from console.builds.model import BuildOutcome, BuildRequest, ImageInfo, LintFinding, PushEvent
    from console.config import Settings

COMMAND = "build"
EXIT_INTERRUPTED = 130
LAYERS_SHOWN = 8


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``build`` to ``llmctl``'s subparsers (``common`` carries the global flags, --docker-host among them)."""
    p = sub.add_parser(COMMAND, parents=[common], help="lint, build (streamed), show layers, push an image")
    p.add_argument("path", nargs="?", default=".", metavar="PATH", help="build context folder (default: .)")
    p.add_argument("-t", "--tag", action="append", default=[], metavar="TAG", help="name:tag (repeatable)")
    p.add_argument("-f", "--file", default="Dockerfile", metavar="DOCKERFILE",
                   help="Dockerfile, relative to PATH (default: Dockerfile)")
    p.add_argument("--target", metavar="STAGE", help="build up to this stage")
    p.add_argument("--build-arg", action="append", default=[], metavar="K=V", help="build argument (repeatable)")
    p.add_argument("--no-cache", action="store_true", help="do not use the engine's layer cache")
    p.add_argument("--push", action="store_true", help="push every tag after a successful build")
    p.add_argument("--max-size", type=positive, metavar="GB",
                   help="flag images larger than this (default: image_size_limit_gb, 8)")
    p.add_argument("--lint-only", action="store_true", help="lint and stop (exit 1 on an error-level finding)")
    p.add_argument("--init", action="store_true", help="write the three-stage Dockerfile and .dockerignore into PATH")
    p.add_argument("--force", action="store_true", help="with --init: overwrite existing files")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    p.set_defaults(func=run)


class _Usage(ValueError):
    """A usage error: exit 2 with this message."""


def _request(args: argparse.Namespace) -> BuildRequest:
    from console.builds.request import BadBuildRequest, build_request

    if args.push and not args.tag:
        raise _Usage("--push needs a tag: -t registry/repo:version")
    if args.max_size is not None and args.max_size <= 0:
        raise _Usage("--max-size must be > 0 (GB)")
    try:
        return build_request(args.path, args.file, args.tag, args.target, args.build_arg, args.no_cache)
    except BadBuildRequest as exc:
        raise _Usage(str(exc)) from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.init:
        return _init(args)
    try:
        request = _request(args)
    except _Usage as exc:
        print(f"llmctl build: {exc}", file=sys.stderr)
        return EXIT_USAGE
    as_json = args.output if args.output in STRUCTURED else ""
    log = sys.stderr if as_json else sys.stdout
    report: dict[str, Any] = {"context": request.context, "dockerfile": request.dockerfile, "tags": list(request.tags),
                              "target": request.target}
    code = _lint_build_push(args, settings, request, report, log)
    report["exit"] = code
    if as_json:
        print(dump(report, as_json))
    return code


def _lint_build_push(args: argparse.Namespace, settings: Settings, request: BuildRequest, report: dict[str, Any],
                     log: TextIO) -> int:
    from console.builds.engine import DockerBuildService
    from console.builds.lint import lint_context
    from console.builds.model import BuildServiceError, BuildSucceeded, Severity

    findings = lint_context(request.context, request.dockerfile, request.tags, dict(request.build_args),
                            request.target)
    report["lint"] = [asdict(f) for f in findings]
    print_findings(findings, log)
    if args.lint_only:
        return EXIT_FAILED if any(f.severity is Severity.ERROR for f in findings) else EXIT_OK
    service = DockerBuildService(settings.docker_host)
    limit_gb = args.max_size if args.max_size is not None else settings.image_size_limit_gb
    run = service.start_build(request, size_limit=int(limit_gb * 1e9))
    print(f"building {', '.join(request.tags) or '(untagged)'} from {request.context} ({request.dockerfile}"
          f"{', target ' + request.target if request.target else ''}) on {service.host}", file=log, flush=True)
    try:
        outcome = follow_build(run, log)
    except KeyboardInterrupt:
        run.cancel()
        print("llmctl build: interrupted; the build was cancelled", file=sys.stderr)
        report["result"] = "cancelled"
        return EXIT_INTERRUPTED
    except BuildServiceError as exc:
        print(f"llmctl build: {exc}", file=sys.stderr)
        report["result"], report["error"] = "error", str(exc)
        return EXIT_FAILED
    report.update(outcome_report(outcome))
    if not isinstance(outcome, BuildSucceeded):
        print(f"llmctl build: {failure_text(outcome)}", file=sys.stderr)
        return EXIT_FAILED
    print_summary(outcome, log)
    if not args.push:
        return EXIT_OK
    pushes = []
    code = EXIT_OK
    for tag in request.tags:
        result = follow_push(service.push(tag), log)
        pushes.append(result)
        if result.get("error"):
            print(f"llmctl build: push of {tag} failed: {result['error']}", file=sys.stderr)
            code = EXIT_FAILED
    report["push"] = pushes
    return code


def _init(args: argparse.Namespace) -> int:
    from console.builds.template import init_project

    try:
        written = init_project(args.path, force=args.force)
    except FileExistsError as exc:
        print(f"llmctl build --init: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in written:
        print(f"wrote {path}")
    print(f"next: put your requirements.txt and code in {args.path}, keep the weights out (they mount at /models), "
          f"then: llmctl build {args.path} -t REGISTRY/REPO:VERSION")
    return EXIT_OK


# ---- printing ---------------------------------------------------------------------------------------------
def print_findings(findings: list[LintFinding], out: TextIO) -> None:
    if not findings:
        print("lint: no findings", file=out)
        return
    print(f"lint: {len(findings)} finding(s)", file=out)
    for f in findings:
        print(f"  {f.severity.value:<7} {f.rule}: {f.message}", file=out)
        print(f"          why: {f.reason}", file=out)


def follow_build(run: Any, out: TextIO) -> BuildOutcome:
    """Print each event as it streams; return the outcome (the last event)."""
    from console.builds.model import (
        BuildCancelled,
        BuildFailed,
        BuildSucceeded,
        StepFinished,
        StepOutput,
        StepStarted,
    )

    outcome: BuildOutcome | None = None
    for event in run:
        if isinstance(event, StepStarted):
            stage = f" [{event.stage}]" if event.stage else ""
            print(f"Step {event.step}/{event.total}{stage} {event.instruction}", file=out, flush=True)
        elif isinstance(event, StepOutput):
            print(f"    {event.line}", file=out, flush=True)
        elif isinstance(event, StepFinished):
            print(f"    → {'cached' if event.cached else 'done'} in {event.seconds:.2f}s", file=out, flush=True)
        elif isinstance(event, BuildSucceeded | BuildFailed | BuildCancelled):
            outcome = event
    if outcome is None:
        return BuildFailed("the build ended without a result")
    return outcome


def failure_text(outcome: BuildOutcome) -> str:
    """One paragraph naming the failing step, the engine's message and the step's last lines."""
    from console.builds.model import BuildFailed

    if not isinstance(outcome, BuildFailed):
        step = getattr(outcome, "step", None)
        return f"build cancelled at step {step}" if step else "build cancelled"
    where = f"failed at step {outcome.step}/{outcome.total} ({outcome.instruction}): " if outcome.step else "failed: "
    text = f"build {where}{outcome.message}"
    if outcome.last_lines:
        text += "\nlast output of the step:\n" + "\n".join(f"    {line}" for line in outcome.last_lines)
    return text


def print_summary(outcome: Any, out: TextIO) -> None:
    from console.core.units import decimal_size

    cached = sum(1 for s in outcome.steps if s.cached)
    image: ImageInfo | None = outcome.image
    size = f"; {decimal_size(image.size)}" if image else ""
    print(f"built {', '.join(outcome.tags) or outcome.image_id[:19]} ({outcome.image_id[:19]}) in "
          f"{outcome.seconds:.1f}s: {len(outcome.steps)} steps, {cached} cached{size}", file=out)
    if outcome.stages:
        print("stages: " + " · ".join(f"{s.name} (FROM {s.base}) {s.steps} steps {s.cached} cached {s.seconds:.1f}s"
                                      for s in outcome.stages), file=out)
    if image:
        print_image(image, out)
    if outcome.findings:
        print_findings(list(outcome.findings), out)


def print_image(image: ImageInfo, out: TextIO) -> None:
    from console.builds.model import layer_instruction
    from console.core.units import decimal_size

    print(f"largest layers of {image.reference} ({len(image.largest_layers)} with data, "
          f"{len(image.layers)} history entries):", file=out)
    for layer in image.largest_layers[:LAYERS_SHOWN]:
        print(f"  {decimal_size(layer.size):>9}  {layer_instruction(layer.created_by)[:100]}", file=out)
    facts = [f"CUDA_VERSION={image.cuda_version}" if image.cuda_version else "no CUDA_VERSION",
             f"user {image.user or 'root'}"]
    if image.volumes:
        facts.append("volumes " + ", ".join(image.volumes))
    if image.labels:
        facts.append("labels " + ", ".join(f"{k}={v}" for k, v in image.labels))
    print("image: " + " · ".join(facts), file=out)


def follow_push(events: Any, out: TextIO) -> dict[str, Any]:
    """Print each layer's progress when its state changes; return the push's result for the report."""
    from console.builds.model import LayerProgress, PushFailed, PushFinished
    from console.core.units import decimal_size

    last: dict[str, str] = {}
    event: PushEvent
    for event in events:
        if isinstance(event, LayerProgress):
            if last.get(event.layer) != event.status:
                last[event.layer] = event.status
                done = f" {decimal_size(event.current)}/{decimal_size(event.total)}" if event.total else ""
                print(f"  push {event.layer}: {event.status}{done}", file=out, flush=True)
        elif isinstance(event, PushFinished):
            print(f"pushed {event.reference} {event.digest} in {event.seconds:.1f}s", file=out)
            return {"reference": event.reference, "digest": event.digest, "seconds": event.seconds,
                    "layers": {k: v for k, v in last.items()}}
        elif isinstance(event, PushFailed):
            return {"reference": event.reference, "error": event.message}
    return {"error": "the push ended without a result"}


def outcome_report(outcome: BuildOutcome) -> dict[str, Any]:
    """The outcome as JSON-ready data for ``-o json``."""
    from console.builds.model import BuildCancelled, BuildFailed

    data = asdict(outcome)
    if isinstance(outcome, BuildFailed):
        return {"result": "failed", "error": data, "steps": data.pop("steps")}
    if isinstance(outcome, BuildCancelled):
        return {"result": "cancelled", "steps": data.pop("steps"), "step": outcome.step}
    return {"result": "succeeded", **data}
