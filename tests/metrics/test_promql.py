"""The PromQL builders and name resolution, as strings (no server; the contract tests run them on one)."""

from __future__ import annotations

import pytest

from console.core.metrics import chart_step
from console.core.units import parse_duration
from console.http import public_url
from console.metrics import promql
from console.metrics.promql import MetricNames, resolve_names

VLLM = {"vllm:e2e_request_latency_seconds_bucket", "vllm:time_to_first_token_seconds_bucket",
        "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_GPU_TEMP"}
VLLM_NAMES = resolve_names(VLLM, {"pod", "namespace", "model_name", "le"}, {"pod", "namespace", "Hostname", "gpu"}, 15)


def test_vllm_names_with_the_colon() -> None:
    n = VLLM_NAMES
    assert (n.stack, n.e2e, n.ttft, n.kv_cache) == (
        "vllm", "vllm:e2e_request_latency_seconds", "vllm:time_to_first_token_seconds", "vllm:kv_cache_usage_perc")
    assert (n.serving_pod, n.serving_namespace, n.gpu_node) == ("pod", "namespace", "Hostname")


def test_colon_names_stored_with_underscores_are_found() -> None:
    n = resolve_names({name.replace("vllm:", "vllm_") for name in VLLM})
    assert n.e2e == "vllm_e2e_request_latency_seconds" and n.running == "vllm_num_requests_running"
    assert n.kv_cache == "vllm_kv_cache_usage_perc"


def test_older_kv_cache_name_when_the_new_one_is_absent() -> None:
    n = resolve_names(VLLM - {"vllm:kv_cache_usage_perc"})
    assert n.kv_cache == "vllm:gpu_cache_usage_perc"


def test_nim_unprefixed_and_tgi_names() -> None:
    nim = resolve_names({"e2e_request_latency_seconds_bucket", "num_requests_waiting", "gpu_cache_usage_perc"})
    assert (nim.stack, nim.e2e, nim.waiting, nim.kv_cache, nim.ttft) == (
        "nim", "e2e_request_latency_seconds", "num_requests_waiting", "gpu_cache_usage_perc", None)
    tgi = resolve_names({"tgi_request_duration_bucket", "tgi_queue_size", "tgi_batch_current_size"})
    assert (tgi.stack, tgi.e2e, tgi.waiting, tgi.running, tgi.ttft, tgi.kv_cache) == (
        "tgi", "tgi_request_duration", "tgi_queue_size", "tgi_batch_current_size", None, None)


def test_vllm_wins_over_other_stacks_and_nothing_found_is_said() -> None:
    assert resolve_names(VLLM | {"tgi_request_duration_bucket"}).stack == "vllm"
    none = resolve_names(set())
    assert not none.has_serving and not none.has_gpu


def test_exported_labels_win_when_a_scrape_renamed_them() -> None:
    n = resolve_names(VLLM, {"pod", "exported_pod", "namespace", "exported_namespace"},
                      {"pod", "exported_pod", "namespace", "exported_namespace", "kubernetes_node"})
    assert (n.serving_pod, n.serving_namespace) == ("exported_pod", "exported_namespace")
    assert (n.gpu_pod, n.gpu_namespace, n.gpu_node) == ("exported_pod", "exported_namespace", "kubernetes_node")
    assert 'exported_pod=~"claude-inference-' in promql.latency_chart(n, "llm", "claude-inference", 60)


def test_framebuffer_percent_is_used_over_used_plus_free() -> None:
    assert promql.fb_used_percent(VLLM_NAMES) == \
        "100 * DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"


def test_per_pod_framebuffer_by_dcgm_pod_labels() -> None:
    assert promql.pod_fb_used(VLLM_NAMES, "llm") == \
        'sum by (namespace, pod) (DCGM_FI_DEV_FB_USED{pod!="",namespace="llm"})'


def test_quantile_sums_by_le_over_the_rate() -> None:
    q = promql.quantile(VLLM_NAMES, 0.99, "vllm:e2e_request_latency_seconds", 60, "llm", "claude-inference")
    assert q == ('histogram_quantile(0.99, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket'
                 '{namespace="llm",pod=~"claude-inference-[a-z0-9]{1,10}-[a-z0-9]{5}"}[60s])))')
    dotted = promql.quantile(VLLM_NAMES, 0.5, "x", 60, None, "llm.v2")
    assert 'pod=~"llm\\\\.v2-[a-z0-9]{1,10}' in dotted  # the dot matched literally, escaped for the string


def test_per_deployment_grouping_derives_the_deployment_from_the_pod_name() -> None:
    q = promql.quantile(VLLM_NAMES, 0.5, "vllm:e2e_request_latency_seconds", 30, "llm", by_deployment=True)
    assert q.startswith("histogram_quantile(0.5, sum by (deployment, le) (label_replace(rate(")
    assert '"deployment", "$1", "pod", "(.+)-[a-z0-9]{1,10}-[a-z0-9]{5}")' in q


def test_without_pod_labels_the_model_label_groups() -> None:
    n = resolve_names(VLLM, {"model_name", "le"})
    assert n.serving_pod is None and n.serving_model == "model_name"
    assert 'label_replace(rate(vllm:e2e_request_latency_seconds_count[30s]), "deployment", "$1", "model_name"' \
        in promql.qps(n, 30, by_deployment=True)
    assert 'model_name="embedder"' in promql.latency_chart(n, None, "embedder", 30)


def test_chart_and_table_are_one_query_each_with_tagged_parts() -> None:
    chart = promql.latency_chart(VLLM_NAMES, "llm", "claude-inference", 60)
    assert [f'"llmctl", "{r}"' in chart for r in ("p50", "p95", "p99", "ttft_p95")] == [True] * 4
    assert chart.count(" or ") == 3 and "time_to_first_token_seconds_bucket" in chart
    table = promql.serving_table(VLLM_NAMES, "llm", 60)
    for role in ("p50", "p95", "p99", "ttft_p95", "qps", "running", "waiting", "kv_cache", "pods"):
        assert f'"llmctl", "{role}"' in table
    assert "avg by (deployment)" in table and "count by (deployment)" in table
    gpu = promql.gpu_table(VLLM_NAMES)
    assert gpu.count(" or ") == 3 and "DCGM_FI_DEV_GPU_TEMP" in gpu
    assert promql.gpu_chart(VLLM_NAMES).startswith('label_replace(max(100 * DCGM_FI_DEV_FB_USED')


def test_tgi_chart_has_no_ttft_part() -> None:
    tgi = resolve_names({"tgi_request_duration_bucket"}, {"pod", "namespace"})
    chart = promql.latency_chart(tgi, "llm", "tgi-server", 60)
    assert "ttft" not in chart and "tgi_request_duration_bucket" in chart and chart.count(" or ") == 2


def test_deployment_trends_join_gpu_memory_and_p99() -> None:
    q = promql.deployment_trends(VLLM_NAMES, "llm", 60)
    assert '"llmctl", "gpu_mem"' in q and '"llmctl", "p99"' in q
    assert "100 * sum by (deployment) (label_replace(DCGM_FI_DEV_FB_USED{pod!=\"\",namespace=\"llm\"}" in q


def test_literal_escaping() -> None:
    assert promql.regex_literal("a.b") == "a\\.b"
    assert promql.quote('x"y\\') == '"x\\"y\\\\"'
    assert promql.selector("m") == "m" and promql.selector("m", "", 'a="b"') == 'm{a="b"}'


def test_discovery_asks_for_every_candidate_in_one_selector() -> None:
    match = promql.discovery_match()
    assert match.startswith('{__name__=~"') and "vllm:e2e_request_latency_seconds_bucket" in match
    assert "vllm_e2e_request_latency_seconds_bucket" in match and "tgi_request_duration_bucket" in match
    assert "e2e_request_latency_seconds_bucket|" in match  # NIM


@pytest.mark.parametrize(("window", "cells", "step"),
                         [(900, 80, 6.0), (300, 80, 2.0), (21600, 72, 150.0), (60, 100, 1.0)])
def test_step_gives_two_points_per_cell_and_never_more(window: float, cells: int, step: float) -> None:
    assert chart_step(window, cells) == step
    assert window / chart_step(window, cells) <= 2 * cells


def test_rate_window_covers_four_scrapes_and_the_step() -> None:
    assert promql.rate_window(15) == 60 and promql.rate_window(1, 6) == 7 and promql.duration(0.2) == "1s"


def test_durations_and_urls() -> None:
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5 and parse_duration("15s") == 15
    assert public_url("https://alice:s3cret@prom.example:9090/prom/") == "https://prom.example:9090/prom"


def test_names_default_to_nothing() -> None:
    assert MetricNames().e2e is None and not MetricNames().has_gpu
