"""``llmctl check [--image REF] [--node NAME] [-n NS] [-d DEPLOYMENT] [-o json] [--engine]``: will these images
run on these GPUs? The namespace's GPU images (plus a candidate) × node pools, with verdicts, reasons and
fixes, and the stack checks (Kubernetes version, device plugin, DCGM exporter, GPU Operator validator, each
GPU container's limits and LD_LIBRARY_PATH).

Image references are resolved as everywhere else (console/compat/resolve.py): normalised as Docker does, and a
Docker Hub short name (``llm/app:v1``) read through the cluster's advertised local registry (KEP-1755) first —
where its nodes pull it — then on Docker Hub; registry credentials as ``docker`` finds them (helpers included).
``-d`` judges the nodes the Deployment's pods can run on now (Ready, not cordoned, placement), as the GPU
preflight and the set-image gate count them.

Exit codes: 0 everything OK, 1 warnings or unknowns (including a cluster that could not be read), 2 a FAIL.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from console.cli.common import OUTPUTS, STRUCTURED, dump

if TYPE_CHECKING:

    from console import wiring
    from console.compat.matrix import CompatReport
    from console.config import Settings

COMMAND = "check"
STYLE = {"OK": "green", "WARN": "yellow", "UNKNOWN": "magenta", "FAIL": "bold red"}


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(COMMAND, parents=[common],
                       help="driver/CUDA/GPU-architecture compatibility of images × node pools; exit 2 on FAIL")
    p.add_argument("--image", metavar="REF", help="a candidate image to check as well (e.g. before a rollout); a "
                   "Docker Hub short name is looked up in the cluster's local registry first, as the nodes pull it")
    p.add_argument("--node", metavar="NAME", help="only this node")
    p.add_argument("-d", "--deployment", metavar="NAME",
                   help="only this Deployment's images, on the nodes its pods can run on (Ready, not cordoned, "
                   "nodeSelector, affinity, taints)")
    p.add_argument("--engine", action="store_true",
                   help="read image configs from the Docker Engine (docker inspect) instead of their registry")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    p.set_defaults(func=run, validate=validate)


async def collect(services: wiring.Services, args: argparse.Namespace) -> CompatReport:
    from console.compat.checker import CompatChecker
    from console.compat.registry import CachedImages, EngineImageSource, RegistryClient
    from console.kube.errors import KubeError

    settings = services.settings
    namespace = settings.namespace
    try:
        target, transport = await services.access.connect()
        namespace = namespace or target.namespace
    except KubeError as exc:
        from console.compat.matrix import CompatReport

        return CompatReport(namespace or "", (), (), (), errors=(exc.message,))
    source = EngineImageSource(settings.docker_host) if args.engine else RegistryClient()
    try:
        return await CompatChecker(transport, CachedImages(source)).report(namespace, args.image, args.node,
                                                                          args.deployment)
    finally:
        await transport.close()


def _cell_text(level: str) -> Any:
    from rich.text import Text

    return Text(level, style=STYLE.get(level, ""))


def print_report(report: CompatReport, stream: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from console.compat.rules import Level

    con = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True, width=200)
    con.print(Text(f"Driver compatibility in namespace {report.namespace or '?'}: {report.level}",
                   style=STYLE.get(report.level, "bold")))
    if not report.pools and not report.images and not report.stack:
        for error in report.errors:
            con.print(Text(f"UNKNOWN  {error}", style=STYLE["UNKNOWN"]))
        return
    pools = Table("POOL", "PRODUCT", "DRIVER", "CUDA≤", "CC", "NODES", "GPUs", box=None, title_justify="left",
                  title="node pools")
    for i, p in enumerate(report.pools, start=1):
        f = p.facts
        pools.add_row(f"P{i}", f.product or "-", f.driver or "-", f.cuda_driver or "-", f.cc_text or "-",
                      ", ".join(p.nodes) if len(p.nodes) <= 4 else f"{len(p.nodes)} nodes", str(p.gpus))
    con.print(pools if report.pools else Text("no GPU nodes: nothing to judge the images on (UNKNOWN)",
                                                style=STYLE["UNKNOWN"]))
    matrix = Table("IMAGE", "CUDA", "ARCH", "USED BY", *(f"P{i}" for i in range(1, len(report.pools) + 1)),
                   box=None, title="images × pools", title_justify="left")
    for row in report.images:
        f = row.facts
        cells = [report.cell(row.ref, p.key) for p in report.pools]
        used = "candidate" if row.candidate else ", ".join(row.used_by)
        matrix.add_row(row.ref, f.cuda or "?", " ".join(f.arch_list) if f.arch_list else "?", used,
                       *(_cell_text(c.level if c else "-") for c in cells))
    con.print(matrix)
    labels = {p.key: f"P{i} ({p.label})" for i, p in enumerate(report.pools, start=1)}
    findings = [(c, v) for c in report.cells for v in c.verdicts if v.level is not Level.OK]
    if findings:
        con.print(Text("findings", style="bold"))
    for cell, v in findings:
        con.print(Text.assemble((f"{v.level:<8}", STYLE.get(v.level, "")), f"{cell.image} on {labels[cell.pool]}: ",
                                v.reason))
        if v.fix:
            con.print(Text(f"         fix: {v.fix}", style="cyan"))
    con.print(Text("stack", style="bold"))
    for check in report.stack:
        v = check.verdict
        con.print(Text.assemble((f"{v.level:<8}", STYLE.get(v.level, "")), f"{check.subject}: {v.reason}"))
        if v.fix and v.level is not Level.OK:
            con.print(Text(f"         fix: {v.fix}", style="cyan"))
    if report.cpu_images:
        con.print(Text(f"not judged (no CUDA, no GPU asked): {', '.join(report.cpu_images)}", style="dim"))
    for error in report.errors:
        con.print(Text(f"UNKNOWN  {error}", style=STYLE["UNKNOWN"]))


def validate(args: argparse.Namespace) -> str | None:
    """Before anything is read or looked up (a bad reference would be asked of docker.io)."""
    from console.actions.validate import ActionError, check_name, image_reference_problem

    problem = image_reference_problem(args.image) if args.image is not None else None
    if problem is None and args.deployment is not None:
        try:
            check_name(args.deployment)
        except ActionError as exc:
            problem = exc.message
    return problem


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from console import wiring

    try:
        with wiring.session(settings) as services:
            report = asyncio.run(collect(services, args))
    except KeyboardInterrupt:
        print("llmctl: interrupted", file=sys.stderr)
        return 130
    if args.output in STRUCTURED:
        print(dump(report.to_json(), args.output))
        for error in report.errors:  # the table shows them; with JSON they also go to stderr
            print(f"llmctl check: {error}", file=sys.stderr)
    else:
        print_report(report)
    return report.exit_code
