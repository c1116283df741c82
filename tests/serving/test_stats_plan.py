"""The pure parts of the serving checks: percentiles, the per-second series, comparisons, prompt sources, plans."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.serving.client import Reply, ServiceRef, parse_service
from console.serving.loadtest import SHORT_LIMIT, LoadPlan, parse_mix, prompt_mix, read_prompts
from console.serving.stats import compare, per_second, percentile, summarize


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=2, max_size=200))
def test_percentile_is_linear_interpolation(values: list[float]) -> None:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    assert percentile(values, 50) == pytest.approx(cuts[49], abs=1e-6)
    assert percentile(values, 99) == pytest.approx(cuts[98], abs=1e-6)
    assert percentile(values, 0) == min(values) and percentile(values, 100) == max(values)


def test_summary_and_seconds() -> None:
    replies = [Reply(True, 200, 0.1 * (i % 5 + 1), ttft_s=0.05, completion_tokens=7, sent=i / 10, pod=f"p{i % 2}")
               for i in range(30)]
    replies.append(Reply(False, 503, 0.01, error="HTTP 503: no endpoints", sent=2.5))
    s = summarize(replies, 3.0)
    assert (s["requests"], s["ok"], s["errors"]) == (31, 30, 1)
    assert s["error_rate"] == pytest.approx(1 / 31) and s["achieved_qps"] == pytest.approx(31 / 3)
    assert s["latency_s"]["p50"] == pytest.approx(0.3) and s["error_kinds"] == {"HTTP 503: no endpoints": 1}
    assert s["pods"] == {"p0": 15, "p1": 15} and s["tokens_per_s"] == pytest.approx(210 / 3)
    rows = per_second(replies, 3.0)
    assert [r["qps"] for r in rows] == [10, 10, 11] and [r["errors"] for r in rows] == [0, 0, 1]


def test_compare_reads_both_kinds_of_result() -> None:
    a = {"summary": {"achieved_qps": 10.0, "latency_s": {"p99": 0.4}, "error_rate": 0.0}}
    b = {"summary": {"achieved_qps": 12.0, "latency_s": {"p99": 0.5}, "error_rate": 0.01},
         "find_max": {"max_qps": 30.0}}
    rows = {r["metric"]: r for r in compare(a, b)}
    assert rows["achieved QPS"]["change"] == pytest.approx(0.2)
    assert rows["latency p99"]["a_text"] == "400ms" and rows["latency p99"]["b_text"] == "500ms"
    assert rows["max QPS under line"]["a"] is None and rows["max QPS under line"]["change"] is None
    assert rows["error rate"]["change"] is None  # from zero: no relative change


def test_prompt_mix_respects_the_routers_line() -> None:
    prompts = prompt_mix(80, 20, count=100)
    short = [p for p in prompts if len(p) < SHORT_LIMIT]
    assert len(prompts) == 100 and len(short) == 80
    assert prompt_mix(80, 20, count=100) == prompts  # seeded: the same run twice sends the same prompts
    assert all(len(p) < SHORT_LIMIT for p in prompt_mix(1, 0, count=20))
    with pytest.raises(ValueError, match="short:long"):
        parse_mix("0:0")


def test_read_prompts(tmp_path: Path) -> None:
    plain = tmp_path / "p.txt"
    plain.write_text("first\n\n  second  \n")
    assert read_prompts(str(plain)) == ("first", "second")
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(json.dumps({"prompt": "a"}) + "\n" + json.dumps({"text": "b"}) + "\n")
    with pytest.raises(ValueError, match=r"p.jsonl:2: a JSON line needs a non-empty \"prompt\""):
        read_prompts(str(jsonl))
    empty = tmp_path / "e.txt"
    empty.write_text("\n")
    with pytest.raises(ValueError, match="no prompts"):
        read_prompts(str(empty))


def test_plans_and_services() -> None:
    assert LoadPlan(qps=5).problem() is None and LoadPlan(concurrency=2).problem() is None
    assert "either" in (LoadPlan().problem() or "") and "either" in (LoadPlan(qps=1, concurrency=1).problem() or "")
    assert "--duration" in (LoadPlan(qps=1, duration_s=0).problem() or "")
    assert parse_service("claude-router:80", "llm") == ServiceRef("llm", "claude-router", "80")
    assert parse_service("svc:http", "x").proxy_base == "/api/v1/namespaces/x/services/svc:http/proxy"
    for bad in ("", "Svc", "svc:0", "svc:a_b", "a/b"):
        with pytest.raises(ValueError):
            parse_service(bad, "llm")
