"""``llmctl loadtest SERVICE``: put load on a model Service through the API server's service proxy and measure
it; ``llmctl loadtest compare A.json B.json``; ``llmctl loadtest SERVICE --find-max --p99 500ms``.

Exit codes: 0 the run finished (and, with --find-max, found a rate under the line), 1 it could not run or
every request failed (or no rate stayed under the line), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.cli.common import OUTPUTS, STRUCTURED, columns, dump

if TYPE_CHECKING:
    from console.config import Settings
    from console.kube.access import KubeAccess
    from console.serving.loadtest import LoadPlan, LoadRun

COMMAND = "loadtest"
MAX_TOKENS_LIMIT = 32768


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(COMMAND, parents=[common], help="load a model Service through the service proxy: QPS, "
                                                       "TTFT, p50/p95/p99, tokens/s; compare; --find-max",
                       description="llmctl loadtest SERVICE [--qps N | --concurrency C] [--duration D] ...; "
                                   "llmctl loadtest compare A.json B.json")
    p.add_argument("target", nargs="+", metavar="SERVICE", help="NAME[:PORT], or: compare A.json B.json")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--qps", type=float, help="open loop: requests per second on a fixed schedule")
    mode.add_argument("--concurrency", type=int, help="closed loop: this many requests in flight")
    p.add_argument("--duration", default="30s", help="how long to send (e.g. 30s, 2m; default 30s); with "
                                                     "--find-max, each step's length (default 10s)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--prompts", metavar="FILE", help="prompts, one per line (or JSON Lines with \"prompt\")")
    source.add_argument("--prompt-mix", metavar="SHORT:LONG", help="generated prompts, SHORT:LONG of them under "
                                                                   "/ over 256 characters (e.g. 80:20)")
    p.add_argument("--model", help="model id (default: the first one /v1/models lists)")
    p.add_argument("--max-tokens", type=int, default=64, help="longest answer in tokens (default 64)")
    p.add_argument("--find-max", action="store_true", help="ramp the QPS to the highest rate whose p99 stays "
                                                           "under --p99")
    p.add_argument("--p99", default="500ms", help="the latency line for --find-max (default 500ms)")
    p.add_argument("--start-qps", type=float, default=2.0, help="--find-max: the first step's QPS (default 2)")
    p.add_argument("--save", metavar="FILE", help="write the result as JSON (for `loadtest compare`)")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    p.set_defaults(func=run, validate=validate, loadtest_plan=None)


def _duration(text: str, what: str) -> float:
    from console.core.units import parse_duration

    try:
        return float(text) if text.replace(".", "", 1).isdigit() else parse_duration(text)
    except ValueError:
        raise ValueError(f"{what}: not a duration: {text!r} (e.g. 30s, 2m, 500ms)") from None


def validate(args: argparse.Namespace) -> str | None:
    """Check the input; build the plan into ``args.loadtest_plan`` (a compare needs no cluster)."""
    from console.serving.client import parse_service
    from console.serving.loadtest import MAX_DURATION_S, LoadPlan, parse_mix, prompt_mix, read_prompts

    if args.target[0] == "compare":
        args.command = "loadtest compare"  # two files: no cluster, so no kubeconfig check (CLUSTER_COMMANDS)
        if len(args.target) != 3:
            return "usage: llmctl loadtest compare A.json B.json"
        for path in args.target[1:]:
            problem = _readable_result(path)
            if problem:
                return problem
        return None
    if len(args.target) != 1:
        return f"one Service, not {len(args.target)}: {' '.join(args.target)}"
    try:
        parse_service(args.target[0], "default")
        default_duration = "10s" if args.find_max and args.duration == "30s" else args.duration
        duration = _duration(default_duration, "--duration")
        line = _duration(args.p99, "--p99")
        if args.prompts:
            prompts = read_prompts(args.prompts)
        else:
            prompts = prompt_mix(*parse_mix(args.prompt_mix or "100:0"))
    except OSError as exc:
        return f"--prompts {args.prompts}: {exc.strerror or exc}"
    except (ValueError, UnicodeDecodeError) as exc:
        return str(exc)
    if not 1 <= args.max_tokens <= MAX_TOKENS_LIMIT:
        return f"--max-tokens must be between 1 and {MAX_TOKENS_LIMIT}, not {args.max_tokens}"
    if args.find_max:
        if args.concurrency is not None:
            return "--find-max ramps the QPS: it does not take --concurrency"
        if not 0 < line <= 600:
            return f"--p99 must be > 0 and ≤ 10m, not {args.p99}"
        if not 0 < args.start_qps <= 1000:
            return f"--start-qps must be > 0 and ≤ 1000, not {args.start_qps:g}"
        if args.qps is not None:
            return "--find-max chooses the QPS itself: leave out --qps (use --start-qps)"
    plan = LoadPlan(qps=args.start_qps if args.find_max else args.qps,
                    concurrency=None if args.find_max else args.concurrency,
                    duration_s=duration, prompts=prompts, max_tokens=args.max_tokens)
    problem = plan.problem()
    if problem is None and not 0 < duration <= MAX_DURATION_S:
        problem = f"--duration must be > 0 and ≤ {MAX_DURATION_S:g} s"
    if problem:
        return problem
    if args.save:
        folder = Path(args.save).expanduser().resolve().parent
        if not folder.is_dir():
            return f"--save {args.save}: no such directory {folder}"
    args.loadtest_plan, args.p99_line_s = plan, line
    return None


def _readable_result(path: str) -> str | None:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    except (ValueError, UnicodeDecodeError):
        return f"{path}: not a JSON file"
    if not isinstance(doc, dict) or not str(doc.get("kind", "")).startswith("llmctl-loadtest"):
        return f"{path}: not a result saved by `llmctl loadtest --save`"
    return None


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if args.target[0] == "compare":
        return compare(args.target[1], args.target[2], args.output)
    from console import wiring

    with wiring.session(settings) as services:
        return asyncio.run(_load(services.access, args, settings.namespace))


async def _load(access: KubeAccess, args: argparse.Namespace, namespace: str | None) -> int:
    from console.cli.probe import connect_client
    from console.kube.errors import KubeError
    from console.serving.client import ServingError
    from console.serving.loadtest import LoadRun, find_max

    plan: LoadPlan = args.loadtest_plan
    try:
        client = await connect_client(access, args.target[0], namespace, args.model, 60.0)
    except (KubeError, ServingError) as exc:
        print(f"llmctl loadtest: {exc}", file=sys.stderr)
        return 1
    table = args.output == "table"
    try:
        if args.find_max:
            def step(row: dict[str, Any]) -> None:
                if table:
                    print(f"  {row['qps']:7.1f} QPS   p99 {_ms(row['p99_s'])}   "
                          f"{'under' if row['under'] else 'OVER'} the line   replicas {row['replicas']}",
                          file=sys.stderr)
            result = await find_max(client, plan, args.p99_line_s, start_qps=plan.qps or 2.0, on_step=step)
        else:
            def second(run: LoadRun) -> None:
                row = run.live()
                if table and row:
                    print(f"  t={row['t']:>3}s  {row['qps']:>4} sent  p99 {_ms(row['p99_s'])}  "
                          f"errors {row['errors']}", file=sys.stderr)
            result = await LoadRun(client, plan).run(second if table else None)
    finally:
        await client.transport.close()
    if args.save:
        Path(args.save).expanduser().write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(dump(result, args.output) if args.output in STRUCTURED else format_result(result))
    if args.find_max:
        return 0 if result["find_max"]["max_qps"] is not None else 1
    return 0 if result["summary"]["ok"] else 1


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}ms"


def format_result(result: dict[str, Any]) -> str:
    """A person's view of a result: the summary, or the find-max steps and the answer."""
    if "find_max" in result:
        fm = result["find_max"]
        rows = [(f"{s['qps']:.1f}", f"{s['achieved_qps']:.1f}", _ms(s["p50_s"]), _ms(s["p99_s"]),
                 _ms(s["ttft_p99_s"]), f"{100 * s['error_rate']:.1f}%", s["replicas"] if s["replicas"] is not None
                 else "-", "yes" if s["under"] else "no") for s in fm["steps"]]
        table = columns(("QPS", "ACHIEVED", "p50", "p99", "TTFT p99", "ERRORS", "REPLICAS", "UNDER LINE"), rows)
        line = _ms(result["p99_line_s"])
        answer = (f"highest QPS with p99 < {line}: {fm['max_qps']:.1f}" if fm["max_qps"] is not None
                  else f"no rate kept p99 under {line}")
        return f"{table}\n\n{result['service']}: {answer}"
    s = result["summary"]
    plan = result["plan"]
    asked = f"{plan['qps']:g} QPS open loop" if plan["qps"] else f"concurrency {plan['concurrency']} closed loop"
    lines = [
        f"service     {result['service']}  model {result['model']}",
        f"load        {asked} for {plan['duration_s']:g}s, {plan['prompts']} prompts",
        f"requests    {s['requests']} ({s['ok']} ok, {s['errors']} failed, {100 * s['error_rate']:.2f}% errors)"
        + (f", {s['not_sent']} not sent in time" if s.get("not_sent") else ""),
        f"achieved    {s['achieved_qps']:.1f} QPS, {s['tokens_per_s']:.1f} tokens/s",
        f"latency     p50 {_ms(s['latency_s']['p50'])}  p95 {_ms(s['latency_s']['p95'])}  "
        f"p99 {_ms(s['latency_s']['p99'])}",
        f"TTFT        p50 {_ms(s['ttft_s']['p50'])}  p95 {_ms(s['ttft_s']['p95'])}  p99 {_ms(s['ttft_s']['p99'])}",
    ]
    if s.get("pods"):
        lines.append("pods        " + ", ".join(f"{k} {v}" for k, v in s["pods"].items()))
    if s.get("routed_to"):
        lines.append("routed to   " + ", ".join(f"{k} {v}" for k, v in s["routed_to"].items()))
    for kind, n in (s.get("error_kinds") or {}).items():
        lines.append(f"error       {n}× {kind}")
    return "\n".join(lines)


def compare(path_a: str, path_b: str, output: str) -> int:
    from console.serving.stats import compare as compare_results

    a = json.loads(Path(path_a).read_text(encoding="utf-8"))
    b = json.loads(Path(path_b).read_text(encoding="utf-8"))
    rows = compare_results(a, b)
    if output in STRUCTURED:
        print(dump({"a": path_a, "b": path_b, "metrics": rows}, output))
        return 0
    print(columns(("METRIC", "A", "B", "CHANGE"), (
        (r["metric"], r["a_text"], r["b_text"], "-" if r["change"] is None else f"{100 * r['change']:+.1f}%")
        for r in rows)))
    return 0
