"""The load generator: open loop at a fixed QPS, or closed loop at a fixed concurrency, and the ``--find-max`` ramp.

Open loop sends request *i* at ``i / qps`` seconds after the start, whether or not earlier ones have answered
(a schedule, not sleep-after-response), so a slow server cannot slow the offered load down and hide its own
queueing (the "coordinated omission" of closed-loop tools). Sends that fall behind the schedule go out at
once; nothing is sent after the duration, so the achieved QPS says honestly whether the generator kept up.
Closed loop runs ``concurrency`` workers, each sending its next request when the last one has answered.

Requests are streamed chat completions through :class:`~console.serving.client.ServingClient` (the kube
transport's aiohttp session: one event loop, no thread per request). Why aiohttp and not the ``openai``
package's async client: see tests/bench/test_bench_loadgen.py and the README — the same requests cost the
openai client (httpx, pydantic models per chunk) several times the CPU, and on a machine with two cores the
generator's own CPU is what limits the QPS it can offer.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from console.serving.client import DEFAULT_MAX_TOKENS, Reply, ServingClient
from console.serving.stats import per_second, summarize

MAX_QPS = 2000.0
MAX_CONCURRENCY = 1000
MAX_DURATION_S = 3600.0
SHORT_LIMIT = 256  # the article's router: prompts under 256 characters go to the short queue
MAX_PROMPTS_BYTES = 16 * 1024 * 1024
_TOPICS = ("GPU memory", "rolling updates", "cold starts", "the HPA", "CUDA drivers", "KV-cache pressure",
           "queue depth", "p99 latency", "model weights on a volume", "the short and long queues")


@dataclass(frozen=True)
class LoadPlan:
    """What to send: ``qps`` (open loop) or ``concurrency`` (closed loop), for ``duration_s`` seconds."""

    qps: float | None = None
    concurrency: int | None = None
    duration_s: float = 30.0
    prompts: tuple[str, ...] = ("What is the p99 latency of this service?",)
    max_tokens: int = DEFAULT_MAX_TOKENS
    stream: bool = True
    seed: int = 0

    def problem(self) -> str | None:
        """Why the plan cannot run (one line), or None."""
        if (self.qps is None) == (self.concurrency is None):
            return "give either --qps or --concurrency"
        if self.qps is not None and not 0 < self.qps <= MAX_QPS:
            return f"--qps must be > 0 and ≤ {MAX_QPS:g}, not {self.qps:g}"
        if self.concurrency is not None and not 0 < self.concurrency <= MAX_CONCURRENCY:
            return f"--concurrency must be between 1 and {MAX_CONCURRENCY}, not {self.concurrency}"
        if not 0 < self.duration_s <= MAX_DURATION_S:
            return f"--duration must be > 0 and ≤ {MAX_DURATION_S:g} s, not {self.duration_s:g}"
        if not self.prompts:
            return "no prompts to send"
        return None

    def describe(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["prompts"] = len(self.prompts)
        doc["mode"] = "open-loop" if self.qps is not None else "closed-loop"
        return doc


def prompt_mix(short: int, long: int, count: int = 200, seed: int = 0) -> tuple[str, ...]:
    """``count`` prompts, ``short : long`` of them under / at least :data:`SHORT_LIMIT` characters, shuffled."""
    rng = random.Random(seed)
    total = short + long
    n_short = round(count * short / total) if total else count
    prompts = []
    for i in range(count):
        topic = _TOPICS[i % len(_TOPICS)]
        if i < n_short:
            text = f"In one sentence: why does {topic} matter for serving a model? (#{i})"
        else:
            text = (f"Here is an incident log about {topic}. " + "The pods restarted and the latency rose. " * 12
                    + f"Summarise what happened and what to check first. (#{i})")
        prompts.append(text[:SHORT_LIMIT - 1] if i < n_short else text)
    rng.shuffle(prompts)
    return tuple(prompts)


def parse_mix(text: str) -> tuple[int, int]:
    """``short:long`` weights (e.g. ``80:20``); ValueError for anything else."""
    a, sep, b = text.partition(":")
    if not sep or not a.strip().isdigit() or not b.strip().isdigit() or int(a) + int(b) == 0:
        raise ValueError(f"--prompt-mix wants short:long weights such as 80:20, not {text!r}")
    return int(a), int(b)


def read_prompts(path: str) -> tuple[str, ...]:
    """Prompts from a file: one per line, or JSON Lines with a ``prompt`` field. OSError/ValueError if unusable."""
    file = Path(path)
    if file.stat().st_size > MAX_PROMPTS_BYTES:
        raise ValueError(f"{path}: larger than {MAX_PROMPTS_BYTES // (1024 * 1024)} MiB")
    prompts = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("{"):
            try:
                doc = json.loads(text)
            except ValueError:
                raise ValueError(f"{path}:{number}: not valid JSON") from None
            text = doc.get("prompt") if isinstance(doc, dict) else None
            if not isinstance(text, str) or not text:
                raise ValueError(f"{path}:{number}: a JSON line needs a non-empty \"prompt\"")
        prompts.append(text)
    if not prompts:
        raise ValueError(f"{path}: no prompts in the file")
    return tuple(prompts)


@dataclass
class LoadRun:
    """A running (or finished) load test: its replies so far, live figures, and a way to stop it early."""

    client: ServingClient
    plan: LoadPlan
    replies: list[Reply] = field(default_factory=list)
    started: float = 0.0
    elapsed_s: float = 0.0
    stopped: bool = False
    not_sent: int = 0
    sends: list[float] = field(default_factory=list)  # send times (s from the start), answered or not

    def stop(self) -> None:
        """Stop sending (requests in flight still finish)."""
        self.stopped = True

    def _prompt(self, i: int, rng: random.Random) -> str:
        prompts = self.plan.prompts
        return prompts[i % len(prompts)] if len(prompts) < 2 else prompts[rng.randrange(len(prompts))]

    async def run(self, on_second: Callable[[LoadRun], None] | None = None) -> dict[str, Any]:
        """Send the plan's load, wait for what is in flight, and return the result (see :func:`result`)."""
        self.started = time.perf_counter()
        ticker = asyncio.get_running_loop().create_task(self._tick(on_second)) if on_second else None
        try:
            if self.plan.qps is not None:
                await self._open_loop(self.plan.qps)
            else:
                await self._closed_loop(self.plan.concurrency or 1)
        finally:
            if ticker is not None:
                ticker.cancel()
        self.elapsed_s = time.perf_counter() - self.started
        return self.result()

    async def _tick(self, on_second: Callable[[LoadRun], None]) -> None:
        while time.perf_counter() - self.started < self.plan.duration_s + 0.5 and not self.stopped:
            await asyncio.sleep(1.0)
            on_second(self)

    async def _send(self, prompt: str) -> None:
        self.sends.append(time.perf_counter() - self.started)
        self.replies.append(await self.client.chat(prompt, self.plan.max_tokens, self.plan.stream, self.started))

    async def _open_loop(self, qps: float) -> None:
        plan, rng = self.plan, random.Random(self.plan.seed)
        total = int(qps * plan.duration_s)
        pending: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        i = 0
        while i < total and not self.stopped:
            now = time.perf_counter() - self.started
            if now >= plan.duration_s:
                break
            due = i / qps
            if due > now:
                await asyncio.sleep(due - now)
                continue
            while i < total and i / qps <= now:  # everything due by now (catching up after a late wake-up)
                task = loop.create_task(self._send(self._prompt(i, rng)))
                pending.add(task)
                task.add_done_callback(pending.discard)
                i += 1
        self.not_sent = total - i
        if pending:
            await asyncio.wait(pending)

    async def _closed_loop(self, concurrency: int) -> None:
        rng = random.Random(self.plan.seed)
        counter = iter(range(10**12))

        async def worker() -> None:
            while not self.stopped and time.perf_counter() - self.started < self.plan.duration_s:
                await self._send(self._prompt(next(counter), rng))

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    def live(self) -> dict[str, Any]:
        """Figures of the last full second (for a progress line or a chart): requests sent in it (answered
        or not), and the latency of those of its requests that have answered."""
        second = int(time.perf_counter() - self.started) - 1
        if second < 0:
            return {}
        rows = per_second([r for r in self.replies if second <= r.sent < second + 1], second + 1.0)
        row = rows[-1]
        row["qps"] = sum(1 for t in self.sends if second <= t < second + 1)
        return row

    def result(self) -> dict[str, Any]:
        """The saved form: the plan, the target, the summary and the per-second series."""
        duration = self.plan.duration_s if not self.stopped else min(self.elapsed_s, self.plan.duration_s)
        sent_in_window = [r for r in self.replies if r.sent < duration]
        summary = summarize(self.replies, duration)
        summary["achieved_qps"] = len(sent_in_window) / max(duration, 1e-9)
        summary["not_sent"] = self.not_sent
        # Output throughput over the whole run, until the last answer (what vLLM's benchmark_serving reports).
        summary["tokens_per_s"] = summary["output_tokens"] / max(self.elapsed_s, duration, 1e-9)
        return {
            "kind": "llmctl-loadtest", "version": 1,
            "service": str(self.client.service), "model": self.client.model,
            "plan": self.plan.describe(), "summary": summary,
            "per_second": per_second(self.replies, duration),
        }


async def run_load(client: ServingClient, plan: LoadPlan,
                   on_second: Callable[[LoadRun], None] | None = None) -> dict[str, Any]:
    """Run one load test (see :class:`LoadRun`)."""
    return await LoadRun(client, plan).run(on_second)


async def find_max(client: ServingClient, base: LoadPlan, p99_line_s: float, start_qps: float = 2.0,
                   max_qps: float = MAX_QPS, factor: float = 1.5, refine: int = 3, max_error_rate: float = 0.01,
                   on_step: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Ramp the QPS (×``factor`` per step of ``base.duration_s``) until p99 crosses ``p99_line_s`` or errors
    exceed ``max_error_rate``, then bisect ``refine`` times between the last rate under the line and the
    first over it. The answer — the highest rate whose p99 stayed under the line — is the article's
    "QPS per node" figure when the Service's pods fill one node. Each step records the Ready endpoints
    after it, so a ramp that made the HPA scale out shows it."""
    steps: list[dict[str, Any]] = []

    async def step(qps: float) -> bool:
        result = await run_load(client, replace(base, qps=qps, concurrency=None))
        s = result["summary"]
        p99 = s["latency_s"]["p99"]
        under = p99 is not None and p99 < p99_line_s and s["error_rate"] <= max_error_rate
        row = {"qps": round(qps, 2), "achieved_qps": s["achieved_qps"], "p50_s": s["latency_s"]["p50"],
               "p99_s": p99, "ttft_p99_s": s["ttft_s"]["p99"], "error_rate": s["error_rate"], "under": under,
               "replicas": await client.ready_endpoints()}
        steps.append(row)
        if on_step is not None:
            on_step(row)
        return under

    good: float | None = None
    bad: float | None = None
    qps = start_qps
    while qps <= max_qps:
        if await step(qps):
            good, qps = qps, qps * factor
        else:
            bad = qps
            break
    for _ in range(refine):
        if good is None or bad is None or bad - good <= max(0.5, 0.05 * good):
            break
        mid = (good + bad) / 2
        if await step(mid):
            good = mid
        else:
            bad = mid
    return {"kind": "llmctl-loadtest-find-max", "version": 1, "service": str(client.service),
            "model": client.model, "p99_line_s": p99_line_s, "plan": base.describe(),
            "find_max": {"max_qps": good, "first_over_qps": bad, "steps": steps}}

