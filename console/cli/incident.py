"""``llmctl incident snapshot [-n NS] [-d DEPLOYMENT] [--minutes 60] [-o FILE]``: the incident view's
timeline, current state and figures as a Markdown report (and JSON beside it) for the postmortem.

Without ``-o`` the Markdown goes to stdout; with ``-o FILE`` it is written to FILE (``FILE.md`` unless FILE
ends with ``.md``) and the JSON to the same name ending in ``.json``; the two paths are printed.

Exit codes: 0 written, 1 the cluster could not be read (or a file could not be written), 2 usage error
(bad ``--minutes``, unknown Deployment, no namespace).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    from console.config import Settings
    pass

COMMAND = "incident"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(COMMAND, help="incident reports: the timeline of the last N minutes (see `incident snapshot`)")
    isub = p.add_subparsers(dest="incident_command", metavar="COMMAND", required=True)
    snap = isub.add_parser("snapshot", parents=[common],
                           help="write a Markdown + JSON report: timeline, current state, figures")
    snap.add_argument("-d", "--deployment", help="one Deployment (default: the whole namespace)")
    snap.add_argument("--minutes", default="60", metavar="N", help="the window: the last N minutes (default 60)")
    snap.add_argument("-o", "--output", metavar="FILE",
                      help="write FILE(.md) and FILE.json beside it (default: Markdown on stdout)")
    snap.add_argument("--audit-log", metavar="PATH",
                      help="audit log to read (default: $XDG_STATE_HOME/llmctl/audit.jsonl)")
    snap.set_defaults(func=run, validate=validate)


def report_paths(output: str) -> tuple[Path, Path]:
    """Where ``-o FILE`` puts the Markdown and the JSON."""
    md = Path(output).expanduser()
    if md.suffix != ".md":
        md = md.with_name(md.name + ".md")
    return md, md.with_suffix(".json")


async def snapshot(settings: Settings, deployment: str | None, minutes: Any) -> Any:
    import asyncio

    from console import wiring
    from console.incident.service import collect_incident, validate_minutes
    from console.metrics.prometheus import PrometheusClient

    minutes = validate_minutes(minutes)  # before anything starts
    services = wiring.build(settings)
    try:
        kubeconfig = await services.access.resolve()
        prometheus = PrometheusClient.from_settings(settings) if settings.prometheus_url else None
        return await collect_incident(
            None, settings.namespace, deployment, minutes, services.audit, None, services.metrics, prometheus,
            kubeconfig=kubeconfig, context=services.access.context)
    finally:
        await asyncio.to_thread(services.close)


def validate(args: argparse.Namespace) -> str | None:
    from console.incident.service import IncidentError, validate_minutes

    try:
        validate_minutes(args.minutes)
    except IncidentError as exc:
        return exc.message
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from console.incident.service import IncidentError, render_markdown, to_json

    try:
        incident = asyncio.run(snapshot(settings, args.deployment, args.minutes))
    except IncidentError as exc:
        print(f"llmctl incident: {exc.message}", file=sys.stderr)
        return exc.code
    markdown = render_markdown(incident)
    if not args.output:
        sys.stdout.write(markdown)
        return 0
    md, js = report_paths(args.output)
    try:
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(markdown)
        js.write_text(json.dumps(to_json(incident), indent=2) + "\n")
    except OSError as exc:
        print(f"llmctl incident: cannot write the report: {exc.strerror or exc}: {exc.filename}", file=sys.stderr)
        return 1
    print(md)
    print(js)
    return 0
