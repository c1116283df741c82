"""Headless actions: ``llmctl scale``, ``llmctl rollout status|history|set-image|undo|pause|resume|restart``
and ``llmctl hpa set`` — the TUI's actions service, for scripts and CI.

Exit codes: 0 success, 1 refused or failed (forbidden, not found, conflict, read-only, no confirmation,
rollout still in progress when the timeout came), 2 usage or validation error, 3 rollout failed
(ProgressDeadlineExceeded). Tables by default, ``-o json`` for machines (stdout is then one JSON
document; progress and prompts go to stderr).

Only argparse is imported at start-up; the Kubernetes client loads when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TextIO

from console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_ROLLOUT_FAILED, EXIT_USAGE, OUTPUTS, STRUCTURED, dump, seconds

if TYPE_CHECKING:

    from console.actions.service import ActionsService
    from console.config import Settings
    from console.core.model import ActionPlan, RolloutVerdict

FOLLOWED = ("scale", "set-image", "undo", "resume", "restart")  # actions that start a rollout to follow
DEFAULT_TIMEOUT = 600.0


# ---- parser -------------------------------------------------------------------------------------------
def _output_flags() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    return out


def _change_flags() -> argparse.ArgumentParser:
    """Flags every mutation takes."""
    mut = argparse.ArgumentParser(add_help=False)
    g = mut.add_argument_group("change")
    g.add_argument("--yes", "-y", action="store_true", help="apply without asking (needed without a terminal)")
    g.add_argument("--dry-run", action="store_true", help="plan only: validate, preflight, server dry-run, diff")
    g.add_argument("--audit-log", metavar="PATH", help="audit log file (default: $XDG_STATE_HOME/llmctl/audit.jsonl)")
    g.add_argument("--no-wait", action="store_true", help="do not follow the rollout after applying")
    g.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds to follow the rollout (default {DEFAULT_TIMEOUT:g}; 0: no limit)")
    g.add_argument("--alternative", choices=("surge-0", "hpa-min"),
                   help="take an offered alternative: surge-0 (set-image), hpa-min (scale)")
    return mut


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the action subcommands to ``llmctl``'s subparsers; ``common`` carries the cluster flags."""
    out = _output_flags()
    both = [common, out, _change_flags()]

    scale = sub.add_parser("scale", parents=both, help="scale a Deployment (warns when an HPA manages it)")
    scale.add_argument("deployment")
    scale.add_argument("--replicas", required=True, metavar="N", help="0–1000")
    scale.set_defaults(func=run, validate=validate, action="scale")

    rollout = sub.add_parser("rollout", help="rollout status, history, set-image, undo, pause, resume, restart")
    rsub = rollout.add_subparsers(dest="rollout_command", metavar="COMMAND", required=True)
    status = rsub.add_parser("status", parents=[common, out], help="kubectl's rollout verdict")
    status.add_argument("deployment")
    status.add_argument("--watch", "-w", action="store_true", help="follow until done, failed or --timeout")
    status.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="S",
                        help="with --watch: seconds to wait (0: no limit)")
    status.set_defaults(func=run, validate=validate, action="status")
    history = rsub.add_parser("history", parents=[common, out], help="revisions: ReplicaSet, images, change-cause")
    history.add_argument("deployment")
    history.set_defaults(func=run, validate=validate, action="history")
    set_image = rsub.add_parser("set-image", parents=both, help="rolling update to a new image, GPU preflight first")
    set_image.add_argument("deployment")
    set_image.add_argument("image", metavar="[CONTAINER=]IMAGE")
    set_image.add_argument("--force", action="store_true",
                           help="roll out even when the driver/GPU compatibility check says FAIL")
    set_image.set_defaults(func=run, validate=validate, action="set-image")
    undo = rsub.add_parser("undo", parents=both, help="roll back to the previous or a chosen revision")
    undo.add_argument("deployment")
    undo.add_argument("--to-revision", metavar="N", help="revision to roll back to (default: the previous one)")
    undo.set_defaults(func=run, validate=validate, action="undo")
    for verb in ("pause", "resume", "restart"):
        simple = rsub.add_parser(verb, parents=both, help=f"{verb} the rollout")
        simple.add_argument("deployment")
        simple.set_defaults(func=run, validate=validate, action=verb)
    _register_hpa(sub, both)


def _register_hpa(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    hpa = sub.add_parser("hpa", help="edit a HorizontalPodAutoscaler")
    hsub = hpa.add_subparsers(dest="hpa_command", metavar="COMMAND", required=True)
    hset = hsub.add_parser("set", parents=parents, help="set minReplicas / maxReplicas / CPU target")
    hset.add_argument("hpa")
    hset.add_argument("--min", dest="min_replicas", metavar="N", help="minReplicas (1 ≤ min ≤ max)")
    hset.add_argument("--max", dest="max_replicas", metavar="M", help="maxReplicas (≤ 1000)")
    hset.add_argument("--cpu-target", metavar="P", help="CPU averageUtilization target, percent (1–100)")
    hset.set_defaults(func=run, validate=validate, action="hpa")


# ---- running ------------------------------------------------------------------------------------------
def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one action command; returns the exit code."""
    import asyncio

    from console.actions.service import ActionError

    try:
        validate_early(args)
        return asyncio.run(_run(args, settings))
    except ActionError as exc:
        print(f"llmctl: {exc.message}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("llmctl: interrupted", file=sys.stderr)
        return 130


def validate(args: argparse.Namespace) -> str | None:
    """The input's problem, before anything starts (no sandbox, no connection, no kubeconfig read)."""
    from console.actions.validate import ActionError

    try:
        validate_early(args)
    except ActionError as exc:
        return exc.message
    return None


def validate_early(args: argparse.Namespace) -> None:
    """Check the input before anything starts (no sandbox, no connection) — the plans check it again."""
    from console.actions import validate as v

    action = args.action
    if action == "hpa":
        v.check_name(args.hpa, "HorizontalPodAutoscaler")
    else:
        v.check_name(args.deployment, "deployment")
    if action == "scale":
        v.parse_replicas(args.replicas)
    elif action == "set-image":
        v.split_image_spec(args.image)
    elif action == "undo":
        v.parse_revision(args.to_revision)
    elif action == "hpa":
        v.parse_hpa(args.min_replicas, args.max_replicas, args.cpu_target)
    alternative = getattr(args, "alternative", None)
    wanted = {"surge-0": "set-image", "hpa-min": "scale"}
    if alternative and wanted[alternative] != action:
        raise v.ActionError(EXIT_USAGE, f"--alternative {alternative} applies to {wanted[alternative]}, not {action}")


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from console import wiring

    services = wiring.build(settings)
    try:
        actions = await services.actions.get()
        namespace = settings.namespace or actions.target.namespace
        return await _dispatch(actions, args, namespace)
    finally:
        await services.aclose()
        await asyncio.to_thread(services.close)


async def _dispatch(actions: ActionsService, args: argparse.Namespace, namespace: str) -> int:
    action = args.action
    if action == "status":
        return await _status(actions, args, namespace)
    if action == "history":
        return await _history(actions, args, namespace)
    plan = await make_plan(actions, args, namespace)
    return await _change(actions, args, plan)


async def make_plan(actions: ActionsService, args: argparse.Namespace, namespace: str) -> ActionPlan:
    action, alternative = args.action, getattr(args, "alternative", None)
    if action == "scale":
        plan = await actions.plan_scale(namespace, args.deployment, args.replicas)
        return await actions.plan_alternative(plan, alternative) if alternative else plan
    if action == "set-image":
        return await actions.plan_set_image(namespace, args.deployment, args.image, alternative=alternative)
    if action == "undo":
        return await actions.plan_undo(namespace, args.deployment, args.to_revision)
    if action == "hpa":
        return await actions.plan_hpa(namespace, args.hpa, args.min_replicas, args.max_replicas, args.cpu_target)
    planner = {"pause": actions.plan_pause, "resume": actions.plan_resume, "restart": actions.plan_restart}[action]
    return await planner(namespace, args.deployment)


async def _change(actions: ActionsService, args: argparse.Namespace, plan: ActionPlan) -> int:
    """Show the plan, confirm, apply, follow."""
    import asyncio

    from console.actions.service import ActionError

    as_json = args.output if args.output in STRUCTURED else ""
    report: dict[str, Any] = {"plan": plan_dict(plan), "result": None, "rollout": None}
    if not as_json:
        print_plan(plan, sys.stdout)
    if args.dry_run:
        return _finish(report, as_json, EXIT_OK)
    force = bool(getattr(args, "force", False))
    actions.refuse_if_blocked(plan, force)  # a compat FAIL: refused (audited) before anything is asked or sent
    if not args.yes:
        if not sys.stdin.isatty():
            raise ActionError(EXIT_FAILED, "confirmation needed: rerun with --yes")
        if as_json:
            print_plan(plan, sys.stderr)
        if not await asyncio.to_thread(confirm, f"Apply {plan.action} to {plan.kind.lower()}/{plan.name}? [y/N] "):
            print("cancelled: nothing was changed", file=sys.stderr)
            return _finish(report, as_json, EXIT_FAILED)
    result = await actions.apply(plan, force=force)
    report["result"] = {"ok": result.ok, "message": result.message, "retried": result.retried}
    _say(result.message + (" (retried once after a conflict)" if result.retried else ""), as_json)
    if plan.action not in FOLLOWED or plan.kind != "Deployment" or args.no_wait:
        return _finish(report, as_json, EXIT_OK)
    verdict = await actions.follow(plan.namespace, plan.name, _limit(args.timeout),
                                   on_update=lambda v: _say(v.message, as_json))
    report["rollout"] = asdict(verdict)
    code = _verdict_exit(verdict, args.timeout, as_json)
    if plan.action == "scale" and code == EXIT_OK:
        held = await actions.scale_held(plan.namespace, plan.name, int(plan.after["replicas"]))
        report["held"] = asdict(held)
        if not held.held:
            print(f"llmctl: the scale to {held.wanted} did not hold: {held.reason}", file=sys.stderr)
            code = EXIT_FAILED
        elif held.reason:
            print(f"llmctl: warning: {held.reason}", file=sys.stderr)
    return _finish(report, as_json, code)


def _limit(timeout: float) -> float:
    return timeout if timeout > 0 else 10 * 365 * 86400.0


def _verdict_exit(verdict: RolloutVerdict, timeout: float, as_json: bool) -> int:
    if verdict.done:
        return EXIT_OK
    if verdict.failed:
        print(f"error: {verdict.message}", file=sys.stderr)
        return EXIT_ROLLOUT_FAILED
    print(f"llmctl: timed out after {timeout:g}s waiting for the rollout: {verdict.message}", file=sys.stderr)
    return EXIT_FAILED


def _finish(report: dict[str, Any], as_json: bool, code: int) -> int:
    if as_json:
        print(dump({**report, "exit": code}, as_json))
    return code


def _say(text: str, as_json: bool) -> None:
    print(text, file=sys.stderr if as_json else sys.stdout, flush=True)


def confirm(prompt: str) -> bool:
    print(prompt, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


async def _status(actions: ActionsService, args: argparse.Namespace, namespace: str) -> int:
    as_json = args.output if args.output in STRUCTURED else ""
    if args.watch:
        verdict = await actions.follow(namespace, args.deployment, _limit(args.timeout),
                                       on_update=None if as_json else lambda v: _say(v.message, False))
    else:
        verdict = await actions.status(namespace, args.deployment)
        if not as_json:
            _say(verdict.message, False)
    code = EXIT_OK if verdict.done else EXIT_ROLLOUT_FAILED if verdict.failed else EXIT_FAILED
    if as_json:
        print(dump({"namespace": namespace, "deployment": args.deployment, **asdict(verdict), "exit": code}, as_json))
    elif verdict.failed:
        print(f"error: {verdict.message}", file=sys.stderr)
    return code


async def _history(actions: ActionsService, args: argparse.Namespace, namespace: str) -> int:
    revisions = await actions.history(namespace, args.deployment)
    if args.output in STRUCTURED:
        print(dump([asdict(r) for r in revisions], args.output))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table("REVISION", "REPLICASET", "REPLICAS", "IMAGES", "CHANGE-CAUSE", "CREATED", box=None)
    for r in revisions:
        table.add_row(str(r.number), r.replicaset, str(r.replicas), ", ".join(r.images), r.change_cause or "<none>",
                      r.created)
    Console(width=200, highlight=False).print(table)
    return EXIT_OK


# ---- showing a plan -----------------------------------------------------------------------------------
def plan_dict(plan: ActionPlan) -> dict[str, Any]:
    """The plan for ``-o json``: everything but the raw request (whose body can be a whole template)."""
    data = asdict(plan)
    data.pop("request", None)
    data["alternatives"] = [{"id": a, "label": label} for a, label in plan.alternatives]
    return data


def print_plan(plan: ActionPlan, stream: TextIO) -> None:
    """Preflight, warnings, alternatives, the diff and the kubectl equivalent, as the user reads them."""
    from rich.console import Console
    from rich.text import Text

    con = Console(file=stream, highlight=False, soft_wrap=True)
    con.print(Text(f"{plan.action} {plan.kind.lower()}/{plan.name} in namespace {plan.namespace}", style="bold"))
    if plan.preflight is not None:
        verdict = "ok" if plan.preflight.ok else "NOT OK"
        con.print(Text(f"GPU preflight: {verdict}: {plan.preflight.message}",
                       style="green" if plan.preflight.ok else "bold red"))
    gate = plan.compat
    if gate is not None and hasattr(gate, "level"):
        style = {"OK": "green", "WARN": "yellow", "UNKNOWN": "yellow"}.get(str(gate.level), "bold red")
        if gate.blocked:
            con.print(Text("compatibility: FAIL — blocked: the new pods would crash (--force rolls out anyway)",
                           style=style))
            for line in gate.lines():
                if line.startswith("FAIL"):
                    con.print(Text(f"  {line}", style=style))
        else:
            con.print(Text(f"compatibility: {gate.summary}", style=style))
    for warning in plan.warnings:
        con.print(Text(f"warning: {warning}", style="yellow"))
    for alt, label in plan.alternatives:
        con.print(Text(f"alternative {alt}: {label} (rerun with --alternative {alt})", style="cyan"))
    for line in plan.diff.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim" if line.startswith(
            "@@") else ""
        con.print(Text(line, style=style))
    con.print(Text(f"kubectl equivalent: {plan.kubectl}", style="dim"))
