"""``llmctl``: argument parsing; builds the services; runs the console or a headless command.

Exit codes: 0 success, 1 refused or failed, 2 usage or validation error, 3 rollout failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import console.cli_deploy as cli_deploy
from console import __version__, cli_actions, cli_alerts, cli_build, cli_check, cli_incident, cli_silence, cli_top
from console.config import ConfigError, Settings, load_settings

FAULT_KINDS = ("node-loss", "oom", "latency-spike", "gpu-memory-leak", "cuda-too-new", "arch-missing",
               "image-pull-error", "clear")


def _global_flags(sub: bool) -> argparse.ArgumentParser:
    """Cluster flags, accepted before and after the command. A subcommand's copy has no defaults
    (SUPPRESS), so ``llmctl --sandbox status`` keeps the flag given before the command."""
    default = argparse.SUPPRESS if sub else None
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("cluster")
    g.add_argument("--kubeconfig", default=default,
                   help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    g.add_argument("--context", default=default, help="kubeconfig context (default: its current-context)")
    g.add_argument("-n", "--namespace", default=default, help="namespace (default: the context's namespace)")
    g.add_argument("--readonly", action="store_true", default=default, help="refuse every mutation")
    g.add_argument("--sandbox", action="store_true", default=default,
                   help="run against an embedded simulated GPU cluster (no real cluster needed)")
    g.add_argument("--docker-host", default=default, metavar="URL",
                   help="Docker Engine for image builds (default: $DOCKER_HOST, else the local socket)")
    g.add_argument("--prometheus", dest="prometheus_url", default=default, metavar="URL",
                   help="Prometheus for the GPU and Latency screens (default: $LLMCTL_PROMETHEUS_URL; on the "
                        "sandbox without it: read the simulation directly)")
    g.add_argument("--alertmanager", dest="alertmanager_url", default=default, metavar="URL",
                   help="Alertmanager (v2 API) for alerts with their silences and `llmctl silence` "
                        "(default: $LLMCTL_ALERTMANAGER_URL)")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _global_flags(sub=True)
    parser = argparse.ArgumentParser(
        prog="llmctl", parents=[_global_flags(sub=False)],
        description="Terminal operations console for LLM inference on Kubernetes GPU clusters.",
        epilog="Run without a command to open the console. `llmctl --sandbox` tries it on a simulated cluster.",
    )
    parser.add_argument("--version", action="version", version=f"llmctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = sub.add_parser("status", parents=[common], help="GPU nodes and Deployments, once")
    status.add_argument("-o", "--output", choices=("table", "json"), default="table")
    status.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the cluster")

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
    sbsub = sb.add_subparsers(dest="sandbox_command", metavar="fault")
    fault = sbsub.add_parser("fault", help="inject a fault into a running sandbox")
    fault.add_argument("kind", choices=FAULT_KINDS)
    fault.add_argument("target", nargs="?", help="deployment or node (default: claude-inference / first node)")
    fault.add_argument("--kubeconfig", required=True, help="the sandbox's kubeconfig (from its ready line)")
    fault.add_argument("--context", help="kubeconfig context (default: current; must be sandbox-admin)")
    cli_actions.register(sub, common)
    cli_build.register(sub, common)
    cli_top.register(sub, common)
    cli_alerts.register(sub, common)
    cli_deploy.register(sub, common)
    cli_check.register(sub, common)
    cli_incident.register(sub, common)
    cli_silence.register(sub, common)
    return parser


def _validate_sandbox_args(args: argparse.Namespace) -> str | None:
    if not 0 <= args.port <= 65535:
        return f"--port must be 0–65535, not {args.port}"
    if args.speed <= 0 or args.speed > 1000:
        return f"--speed must be > 0 and ≤ 1000, not {args.speed}"
    if args.nodes is not None and not 1 <= args.nodes <= 5000:
        return f"--nodes must be 1–5000, not {args.nodes}"
    if args.gpus_per_node is not None and not 0 <= args.gpus_per_node <= 16:
        return f"--gpus-per-node must be 0–16, not {args.gpus_per_node}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sandbox":
        if args.sandbox_command == "fault":
            from console.sandbox.faultcli import send_fault

            return send_fault(args.kind, args.target, args.kubeconfig, args.context)
        problem = _validate_sandbox_args(args)
        if problem:
            parser.error(problem)
        return run_sandbox(args)
    try:
        settings = load_settings({k: getattr(args, k, None) for k in
                                  ("kubeconfig", "context", "namespace", "readonly", "sandbox", "audit_log",
                                   "docker_host", "prometheus_url", "alertmanager_url")})
    except ConfigError as exc:
        print(f"llmctl: {exc}", file=sys.stderr)
        return 2
    if args.command == "status":
        return run_status(settings, args.output, args.timeout)
    if args.command in cli_actions.COMMANDS:
        return cli_actions.run(args, settings)
    if args.command == cli_build.COMMAND:
        return cli_build.run(args, settings)
    if args.command == cli_top.COMMAND:
        return cli_top.run(args, settings)
    if args.command == cli_alerts.COMMAND:
        return cli_alerts.run(args, settings)
    if args.command in cli_deploy.COMMANDS:
        return cli_deploy.run(args, settings)
    if args.command == cli_check.COMMAND:
        return cli_check.run(args, settings)
    if args.command == cli_incident.COMMAND:
        return cli_incident.run(args, settings)
    if args.command == cli_silence.COMMAND:
        return cli_silence.run(args, settings)
    return run_console(settings)


def run_sandbox(args: argparse.Namespace) -> int:
    """Run the sandbox until SIGINT/SIGTERM; print one JSON ready line on stdout."""
    from pathlib import Path

    from console.sandbox.context import SandboxConfig
    from console.sandbox.server import Sandbox

    product = {"A100": "A100-SXM4-80GB", "H100": "H100-80GB-HBM3"}.get(args.gpu_product, args.gpu_product)
    config = SandboxConfig(
        host=args.host, port=args.port, kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        scenario=args.scenario, nodes=args.nodes, gpus_per_node=args.gpus_per_node, gpu_product=product,
        speed=args.speed, seed=args.seed,
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
    except OSError as exc:
        print(f"llmctl sandbox: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. an unknown GPU product
        print(f"llmctl sandbox: {exc}", file=sys.stderr)
        return 2
    return 0


def sandbox_thread(settings: Settings) -> Any:
    """An in-process sandbox (not started) for ``--sandbox``: ``.start().kubeconfig`` waits until it
    serves and returns its kubeconfig; ``.stop()`` ends it."""
    from console.sandbox.context import SandboxConfig
    from console.sandbox.server import SandboxThread

    return SandboxThread(SandboxConfig(speed=settings.sandbox_speed, scenario=settings.sandbox_scenario))


@contextlib.contextmanager
def cluster_access(settings: Settings) -> Iterator[tuple[str | None, Any]]:
    """For a headless command: the kubeconfig to use and, with --sandbox, the in-process sandbox (started
    here, stopped on the way out); without --sandbox, the configured kubeconfig and None."""
    if not settings.sandbox:
        yield settings.kubeconfig, None
        return
    thread = sandbox_thread(settings)
    try:
        yield thread.start().kubeconfig, thread
    finally:
        thread.stop()


def _cluster_service(settings: Settings) -> tuple[Any, Any]:
    """The cluster service for these settings, and the in-process sandbox if one was asked for."""
    from console.services.cluster import KubeClusterService

    if not settings.sandbox:
        return KubeClusterService(settings.kubeconfig, settings.context, settings.namespace), None
    thread = sandbox_thread(settings)

    def prepare() -> str:
        return thread.start().kubeconfig

    service = KubeClusterService(None, settings.context, settings.namespace, sandbox=True, prepare=prepare)
    return service, thread


def run_console(settings: Settings) -> int:
    from console.app import LlmctlApp

    service, sandbox = _cluster_service(settings)
    metrics = cli_top.metrics_service(settings, sandbox)
    try:
        LlmctlApp(service, settings, metrics=metrics).run()
    finally:
        if metrics is not None:
            metrics.close()
        if sandbox is not None:
            sandbox.stop()
    return 0


def run_status(settings: Settings, output: str, timeout: float) -> int:
    from console.services.status import collect_status, format_status

    service, sandbox = _cluster_service(settings)
    try:
        snap = asyncio.run(collect_status(service, timeout))
    finally:
        if sandbox is not None:
            sandbox.stop()
    print(format_status(snap, output))
    return 0 if snap.connection.state.value == "connected" and not snap.problems else 1


if __name__ == "__main__":
    sys.exit(main())
