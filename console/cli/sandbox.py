"""``llmctl sandbox``: the simulated GPU cluster in the foreground; ``llmctl sandbox fault KIND``: a fault."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

FAULT_KINDS = ("node-loss", "oom", "latency-spike", "gpu-memory-leak", "cuda-too-new", "arch-missing",
               "image-pull-error", "clear")
GPU_PRODUCTS = {"A100": "A100-SXM4-80GB", "H100": "H100-80GB-HBM3"}  # short names → GFD product labels


def register(sub: Any, _common: argparse.ArgumentParser) -> None:
    sb = sub.add_parser("sandbox", help="run the simulated GPU cluster in the foreground")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=0, help="API port (0: any free port)")
    sb.add_argument("--kubeconfig", help="where to write the kubeconfig (default: a temporary file)")
    sb.add_argument("--scenario", choices=("default", "large"), default="default")
    sb.add_argument("--nodes", type=int, help="GPU nodes (default 4; large: 250)")
    sb.add_argument("--gpus-per-node", type=int, help="GPUs per node (default 4; large: 8)")
    sb.add_argument("--gpu-product", default="A10G", help="GPU product of the nodes (A10G, A100, H100, L4, T4)")
    sb.add_argument("--speed", type=float, default=1.0, help="simulated time runs this many times faster")
    sb.add_argument("--seed", type=int, default=0, help="random seed (same seed, same simulation)")
    sb.add_argument("--state-dir", metavar="DIR",
                    help="keep the cluster in DIR across restarts (objects, resourceVersions, logs, ports); "
                         "a restart then looks like an API server restart to clients")
    sb.add_argument("--metrics-port", type=int, metavar="PORT",
                    help="serve the DCGM exporter on PORT and the vLLM exporter on PORT+1 (default: any free "
                         "ports, kept across restarts with --state-dir)")
    sb.set_defaults(func=run_sandbox, without_settings=True)
    sbsub = sb.add_subparsers(dest="sandbox_command", metavar="fault")
    fault = sbsub.add_parser("fault", help="inject a fault into a running sandbox")
    fault.add_argument("kind", choices=FAULT_KINDS)
    fault.add_argument("target", nargs="?", help="deployment or node (default: claude-inference / first node)")
    fault.add_argument("--kubeconfig", required=True, help="the sandbox's kubeconfig (from its ready line)")
    fault.add_argument("--context", help="kubeconfig context (default: current; must be sandbox-admin)")
    fault.set_defaults(func=run_fault, without_settings=True)


def run_fault(args: argparse.Namespace, _parser: argparse.ArgumentParser) -> int:
    from console.sandbox.faultcli import send_fault

    return send_fault(args.kind, args.target, args.kubeconfig, args.context)


def problem(args: argparse.Namespace) -> str | None:
    if not 0 <= args.port <= 65535:
        return f"--port must be 0–65535, not {args.port}"
    if not 0 < args.speed <= 1000:  # also refuses nan
        return f"--speed must be > 0 and ≤ 1000, not {args.speed}"
    if args.nodes is not None and not 1 <= args.nodes <= 5000:
        return f"--nodes must be 1–5000, not {args.nodes}"
    if args.gpus_per_node is not None and not 0 <= args.gpus_per_node <= 16:
        return f"--gpus-per-node must be 0–16, not {args.gpus_per_node}"
    if args.metrics_port is not None and not 1 <= args.metrics_port <= 65534:
        return f"--metrics-port must be 1–65534 (the vLLM exporter takes the next port), not {args.metrics_port}"
    if args.metrics_port is not None and args.port and args.port in (args.metrics_port, args.metrics_port + 1):
        return f"--port {args.port} and --metrics-port {args.metrics_port} overlap"
    if args.state_dir is not None and not args.state_dir.strip():
        return "--state-dir must not be empty"
    return None


def run_sandbox(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the sandbox until SIGINT/SIGTERM; print one JSON ready line on stdout."""
    import asyncio
    import signal

    from console.sandbox.context import SandboxConfig
    from console.sandbox.server import Sandbox
    from console.sandbox.state import StateError

    wrong = problem(args)
    if wrong:
        parser.error(wrong)
    config = SandboxConfig(
        host=args.host, port=args.port, kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        scenario=args.scenario, nodes=args.nodes, gpus_per_node=args.gpus_per_node,
        gpu_product=GPU_PRODUCTS.get(args.gpu_product, args.gpu_product), speed=args.speed, seed=args.seed,
        state_dir=Path(args.state_dir).expanduser() if args.state_dir else None, metrics_port=args.metrics_port,
    )

    async def serve() -> None:
        sandbox = Sandbox(config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        info = await sandbox.start()
        print(json.dumps(info.event()), flush=True)
        try:
            await stop.wait()
        finally:
            await sandbox.stop()

    try:
        asyncio.run(serve())
    except StateError as exc:  # unreadable state, or another sandbox holds the directory
        print(f"llmctl sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # server.ListenError names the port and what wanted it
        print(f"llmctl sandbox: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. an unknown GPU product
        print(f"llmctl sandbox: {exc}", file=sys.stderr)
        return 2
    return 0
