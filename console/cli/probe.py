"""``llmctl probe SERVICE``: one chat request to a model Service through the API server's service proxy — its
answer, TTFT, latency, tokens/s and which pod answered.

Exit codes: 0 the model answered, 1 it did not (error status, unreachable, forbidden), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from console.cli.common import OUTPUTS, STRUCTURED, dump

if TYPE_CHECKING:
    from console.config import Settings
    from console.kube.access import KubeAccess
    from console.serving.client import Reply, ServingClient

COMMAND = "probe"
MAX_PROMPT_CHARS = 100_000


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(COMMAND, parents=[common], help="ask a model Service one question through the API server's "
                                                       "service proxy: answer, TTFT, tokens/s, pod")
    p.add_argument("service", metavar="SERVICE", help="the Service, NAME or NAME:PORT (default: its first port)")
    p.add_argument("--model", help="model id (default: the first one /v1/models lists)")
    p.add_argument("--prompt", default="In one sentence: are you up?", help="the question")
    p.add_argument("--max-tokens", type=int, default=64, help="longest answer in tokens (default 64)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the answer (default 60)")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="table")
    p.set_defaults(func=run, validate=validate)


def validate(args: argparse.Namespace) -> str | None:
    from console.serving.client import parse_service

    try:
        parse_service(args.service, "default")
    except ValueError as exc:
        return str(exc)
    if not args.prompt.strip():
        return "--prompt must not be empty"
    if len(args.prompt) > MAX_PROMPT_CHARS:
        return f"--prompt is longer than {MAX_PROMPT_CHARS} characters"
    if not 1 <= args.max_tokens <= 32768:
        return f"--max-tokens must be between 1 and 32768, not {args.max_tokens}"
    if not 0 < args.timeout <= 3600:
        return f"--timeout must be > 0 and ≤ 3600 seconds, not {args.timeout:g}"
    if args.model is not None and not args.model.strip():
        return "--model must not be empty"
    return None


async def connect_client(access: KubeAccess, service: str, namespace: str | None, model: str | None,
                         timeout: float) -> ServingClient:
    """A resolved :class:`ServingClient` for ``service`` (raises KubeError / ServingError)."""
    from console.serving.client import ServingClient, parse_service

    target, transport = await access.connect()
    ref = parse_service(service, namespace or target.namespace or "default")
    client = ServingClient(transport, ref, model, timeout)
    try:
        await client.resolve()
    except BaseException:
        await transport.close()
        raise
    return client


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from console import wiring

    with wiring.session(settings) as services:
        return asyncio.run(_probe(services.access, args, settings.namespace))


async def _probe(access: KubeAccess, args: argparse.Namespace, namespace: str | None) -> int:
    from console.kube.errors import KubeError
    from console.serving.client import ServingError

    try:
        client = await connect_client(access, args.service, namespace, args.model, args.timeout)
    except (KubeError, ServingError) as exc:
        print(f"llmctl probe: {exc}", file=sys.stderr)
        return 1
    try:
        reply = await client.chat(args.prompt, args.max_tokens, stream=True)
    finally:
        await client.transport.close()
    if args.output in STRUCTURED:
        doc = {**reply.as_dict(), "service": str(client.service), "model": reply.model or client.model}
        print(dump(doc, args.output))
    elif reply.ok:
        print(format_reply(reply, str(client.service)))
    if not reply.ok:
        print(f"llmctl probe: {client.service}: {reply.error}", file=sys.stderr)
        return 1
    return 0


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def format_reply(reply: Reply, service: str) -> str:
    rate = reply.tokens_per_s
    lines = [
        reply.text.strip() or "(empty answer)",
        "",
        f"service    {service}",
        f"model      {reply.model or '-'}",
        f"pod        {reply.pod or '(not reported by the server)'}"
        + (f"   routed to {reply.routed_to}" if reply.routed_to else ""),
        f"TTFT       {ms(reply.ttft_s)}",
        f"latency    {ms(reply.latency_s)}",
        f"tokens     {reply.prompt_tokens} prompt, {reply.completion_tokens} completion"
        + (f"   {rate:.1f} tokens/s" if rate is not None else ""),
    ]
    return "\n".join(lines)
