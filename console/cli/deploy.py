"""``llmctl render`` and ``llmctl deploy``: the manifests of a values file, and a first deployment, headless.

``llmctl render -f values.yaml [-o DIR]``: the manifests as one multi-document YAML stream on stdout, or one
file per kind in DIR (numbered in apply order, so ``kubectl apply -f DIR`` applies them in order).

``llmctl deploy -f values.yaml [--yes] [--dry-run]``: the deploy engine's steps in a row — preflight, render
(the files kept under the state dir, or ``--out DIR``), diff, server dry-run, apply, rollout, verify — with
a progress file a wizard can resume from. Without ``--yes`` it shows the plan and asks on a terminal; it
refuses without one.

Exit codes: 0 success (or nothing to change), 1 failed or refused (preflight, dry-run, apply, verify, no
confirmation, rollout still in progress at --timeout), 2 invalid values or usage, 3 rollout failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, kubeconfig_problem, positive

if TYPE_CHECKING:

    from console.config import Settings
    from console.deploy.engine import ApplyReport, DeployPlan, PreflightReport, RolloutReport, VerifyReport
    from console.deploy.values.schema import Values

HEADER = "Rendered by llmctl render from {source}: edit the values and render again, or own this file."


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    render = sub.add_parser("render", help="the Kubernetes manifests of a values file (kubectl apply accepts them)")
    render.add_argument("-f", "--file", required=True, metavar="VALUES", help="values file (YAML)")
    render.add_argument("-o", "--output-dir", metavar="DIR",
                        help="write one file per kind into DIR (default: one multi-document stream on stdout)")
    render.set_defaults(func=run_render_command)
    deploy = sub.add_parser("deploy", parents=[common],
                            help="first deployment from a values file: preflight, diff, dry-run, apply, verify")
    deploy.add_argument("-f", "--file", metavar="VALUES",
                        help="values file (YAML); with --guided: where the wizard starts")
    deploy.add_argument("--guided", action="store_true",
                        help="the interactive wizard: preflight, model and resources, render, diff, apply, verify")
    deploy.add_argument("--yes", "-y", action="store_true", help="apply without asking (needed without a terminal)")
    deploy.add_argument("--dry-run", action="store_true",
                        help="stop after the server-side dry-run: nothing is changed")
    deploy.add_argument("--no-wait", action="store_true", help="do not follow the rollout or verify after applying")
    deploy.add_argument("--timeout", type=positive, default=600.0, metavar="S",
                        help="seconds to follow the rollout (default 600)")
    deploy.add_argument("--verify-timeout", type=positive, default=60.0, metavar="S",
                        help="seconds to wait for metrics to arrive (default 60)")
    deploy.add_argument("--out", metavar="DIR",
                        help="where to keep the rendered manifests (default: under $XDG_STATE_HOME/llmctl/deploy)")
    deploy.add_argument("--audit-log", metavar="PATH",
                        help="audit log file (default: $XDG_STATE_HOME/llmctl/audit.jsonl)")
    deploy.set_defaults(func=run)


def _load(path: str) -> Values:
    from console.deploy.values.load import load_values_file

    return load_values_file(path)


def _values_or_exit(path: str) -> Values | int:
    from console.deploy.values.schema import ValuesError

    try:
        values = _load(path)
    except ValuesError as exc:
        count = len(exc.problems)
        print(f"llmctl: {path}: {count} problem{'s' if count != 1 else ''} with the values:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.text(path)}", file=sys.stderr)
        return EXIT_USAGE
    for warning in values.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return values


def _values_in_namespace(path: str, settings: Settings) -> Values | int:
    """The values file, or the exit code when it is invalid or names another namespace than -n."""
    loaded = _values_or_exit(path)
    if not isinstance(loaded, int) and settings.namespace and settings.namespace != loaded.namespace:
        print(f"llmctl: the namespace given with -n ({settings.namespace}) is not the values' namespace "
              f"({loaded.namespace}): change `namespace:` in {path}", file=sys.stderr)
        return EXIT_USAGE
    return loaded


def run_render_command(args: argparse.Namespace, _settings: Settings) -> int:
    loaded = _values_or_exit(args.file)
    return loaded if isinstance(loaded, int) else run_render(args, loaded)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if args.guided:
        return run_guided(args, settings)
    if not args.file:
        print("llmctl deploy: -f/--file VALUES is required (or --guided for the wizard)", file=sys.stderr)
        return EXIT_USAGE
    loaded = _values_in_namespace(args.file, settings)
    if isinstance(loaded, int):
        return loaded
    if problem := kubeconfig_problem(settings):
        print(f"llmctl: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_deploy(args, settings, loaded))
    except KeyboardInterrupt:
        print("llmctl: interrupted (the progress file says where to resume; nothing is left half-applied)",
              file=sys.stderr)
        return 130


def run_guided(args: argparse.Namespace, settings: Settings) -> int:
    """The console opened on the wizard, starting from the values file when one is given (else
    manifests/values.example.yaml, in the namespace given with -n). 0 when the deployment was verified (or the
    cluster already matched), 1 when the wizard was left before the end (its progress file resumes it), 2 for
    invalid values."""
    from console.cli.tui import open_console

    wizard: dict[str, Any] = {"standalone": True}
    if args.file:
        loaded = _values_in_namespace(args.file, settings)
        if isinstance(loaded, int):
            return loaded
        wizard.update(values=loaded, values_file=args.file)
    return open_console(settings, wizard)


def run_render(args: argparse.Namespace, values: Values) -> int:
    from console.deploy.render import render

    rendered = render(values)
    header = HEADER.format(source=Path(args.file).name)
    if args.output_dir:
        try:
            written = rendered.write(args.output_dir, header)
        except OSError as exc:
            print(f"llmctl: cannot write to {args.output_dir}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
        for path in written:
            print(path)
        print(f"{len(rendered.objects)} objects in {len(written)} files; apply with: kubectl apply -f "
              f"{args.output_dir}", file=sys.stderr)
        return EXIT_OK
    sys.stdout.write(rendered.yaml(header))
    return EXIT_OK


# ---- deploy ---------------------------------------------------------------------------------------------
def _say(text: str = "") -> None:
    print(text, flush=True)


def print_checks(title: str, checks: Any) -> None:
    _say(title)
    for check in checks:
        _say(f"  {check.line()}")


def print_plan(plan: DeployPlan) -> None:
    _say(f"plan: {plan.summary()}")
    for op in plan.objects:
        what = ", ".join(op.changed[:4]) + (", …" if len(op.changed) > 4 else "")
        _say(f"  {op.state:9} {op.ref}" + (f"  ({what})" if op.state == "changed" else ""))
        if op.note:
            _say(f"            note: {op.note}")
    for op in plan.objects:
        if op.state == "changed" and op.diff:
            _say(op.diff.rstrip("\n"))


def print_apply(report: ApplyReport) -> None:
    for r in report.results:
        if not r.ok or not r.checked:
            _say(f"  {'FAIL' if not r.ok else 'note'} {r.message}")
    for ref in report.rolled_back:
        _say(f"  rolled back: {ref} deleted")
    _say(report.message)


def _rollout_printer() -> Any:
    seen: dict[str, str] = {}

    def show(report: RolloutReport) -> None:
        for name, verdict in report.verdicts:
            if seen.get(name) != verdict.message:
                seen[name] = verdict.message
                _say(f"  {verdict.message}")
        for message in report.scheduling:
            key = f"sched:{message}"
            if key not in seen:
                seen[key] = message
                _say(f"  FailedScheduling: {message}")
        for pod in report.pods:
            if pod.cold_start_s is not None and f"ready:{pod.name}" not in seen:
                seen[f"ready:{pod.name}"] = "1"
                _say(f"  pod {pod.name} Ready on {pod.node or '?'}: cold start {pod.cold_start_s:.0f} s")
            elif pod.why and seen.get(f"why:{pod.name}") != pod.why and pod.status not in ("Pending",):
                seen[f"why:{pod.name}"] = pod.why
                _say(f"  pod {pod.name} {pod.status}: {pod.why}")

    return show


def _confirm(prompt: str) -> bool:
    print(prompt, end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


async def _deploy(args: argparse.Namespace, settings: Settings, values: Values) -> int:
    import asyncio

    from console import wiring
    from console.deploy.engine import DeployError

    services = wiring.build(settings)
    try:
        engine = await services.deploy_engine()
        try:
            return await _steps(engine, args, values)
        finally:
            await engine.close()
    except DeployError as exc:
        print(f"llmctl: {exc.message}", file=sys.stderr)
        return exc.code
    finally:
        await asyncio.to_thread(services.close)


async def _steps(engine: Any, args: argparse.Namespace, values: Values) -> int:
    """The steps in a row, saving the progress file after each."""
    import asyncio

    from console.deploy.engine import exit_code
    from console.deploy.progress import ProgressStore

    store = ProgressStore()
    progress = store.start(engine.target.context, values, args.file)

    def done(step: str) -> None:
        progress.mark(step)
        store.save(progress)

    def failed(step: str, why: str, code: int = EXIT_FAILED) -> int:
        progress.error = f"{step}: {why}"
        store.save(progress)
        print(f"llmctl: {why}", file=sys.stderr)
        return code

    _say(f"deploy {values.name} into namespace {values.namespace} (context {engine.target.context})")
    preflight: PreflightReport = await engine.preflight(values)
    rendered = engine.render(values)  # with what the preflight read: the StorageClass, the kinds served
    print_checks("preflight:", preflight.checks)
    if not preflight.ok:
        names = ", ".join(c.name for c in preflight.failures)
        return failed("preflight", f"preflight failed ({names}): nothing was applied")
    done("preflight")

    out = Path(args.out).expanduser() if args.out else \
        store.path(engine.target.context, values.namespace, values.name).with_suffix("") / "manifests"
    try:
        written = rendered.write(out, HEADER.format(source=Path(args.file).name))
    except OSError as exc:
        return failed("render", f"cannot write the manifests to {out}: {exc.strerror or exc}")
    engine.manifest_dir = out
    progress.manifests = str(out)
    _say(f"render: {len(rendered.objects)} objects in {len(written)} files under {out}")
    done("render")

    plan: DeployPlan = await engine.diff(rendered)
    print_plan(plan)
    done("diff")

    if args.dry_run:
        report = await engine.dry_run(plan)
        _say("server dry-run:")
        for r in report.results:
            _say(f"  {'ok  ' if r.ok else 'FAIL'} {r.message}")
        if not report.ok:
            return failed("dry-run", f"{report.message}: nothing was applied")
        done("dry-run")
        _say(f"{report.message}; nothing was changed (--dry-run)")
        return EXIT_OK

    if plan.changes:
        if not args.yes:
            if not sys.stdin.isatty():
                return failed("apply", "confirmation needed: rerun with --yes (or --dry-run to only check)")
            if not await asyncio.to_thread(_confirm, f"Apply {plan.summary()} to namespace {values.namespace}? "
                                                     "[y/N] "):
                return failed("apply", "cancelled: nothing was changed")
        report = await engine.apply(plan, on_progress=lambda m: _say(f"  {m}"))
        print_apply(report)
        progress.applied = [r.ref for r in report.results if r.ok and r.checked]
        if not report.ok:
            return failed("apply", report.message)
        done("dry-run")
        done("apply")
    else:
        _say("nothing to apply")
        done("dry-run")
        done("apply")

    if args.no_wait:
        _say(f"not following the rollout (--no-wait); manifests in {out}")
        return EXIT_OK
    _say("rollout:")
    rollout: RolloutReport = await engine.watch(rendered, args.timeout if args.timeout > 0 else 10 * 365 * 86400.0,
                                                on_update=_rollout_printer())
    code = exit_code(rollout)
    if code:
        what = "failed" if rollout.failed else f"still in progress after {args.timeout:g}s"
        return failed("rollout", f"rollout {what}: " + "; ".join(v.message for _, v in rollout.verdicts), code)
    done("rollout")

    verify: VerifyReport = await engine.verify(rendered, args.verify_timeout)
    print_checks("verify:", verify.checks)
    if not verify.ok:
        return failed("verify", "verify failed: " + "; ".join(c.message for c in verify.checks
                                                                if c.status.value == "fail"))
    done("verify")
    _summary(engine, plan, values, out)
    return EXIT_OK


def _summary(engine: Any, plan: DeployPlan, values: Values, out: Path) -> None:
    made = [o.ref for o in plan.objects if o.state == "new"]
    changed = [o.ref for o in plan.objects if o.state == "changed"]
    ctx = f" --context {engine.target.context}" if engine.target.context else ""
    _say("summary:")
    if made:
        _say(f"  created: {', '.join(made)}")
    if changed:
        _say(f"  changed: {', '.join(changed)}")
    if not made and not changed:
        _say("  nothing changed: the cluster already matches the values")
    _say(f"  manifests: {out} (kubectl equivalent: kubectl apply --server-side --field-manager=llmctl "
         f"--force-conflicts -f {out}{ctx})")
    _say(f"  next: llmctl status -n {values.namespace}{ctx}; llmctl top latency -n {values.namespace}; "
         f"llmctl rollout set-image {values.deployments()[0]} IMAGE -n {values.namespace}")
