"""The one Prometheus adapter (console/metrics/prometheus.py, prometheus-api-client underneath) against a real
Prometheus scraping the sandbox, and the stand-in for answers a real one will not give on demand: every read
(queries, labels, ``/api/v1/alerts``, ``/api/v1/rules``, the config) through the same session and headers,
credentials only in headers, typed errors that name the server without credentials, no retries."""

from __future__ import annotations

import base64
import logging
import time

import pytest

from console.alerts.builtin import covered_by_prometheus, fetch_rules
from console.config import Settings
from console.metrics.prometheus import PrometheusClient, PrometheusError, prometheus_alerts, prometheus_rules
from console.wiring import prometheus_rules_reader

from .conftest import PromSandbox
from .fakeprom import fake_prometheus
from .prom import free_port

SECRET = "pw-3c9d-not-in-logs"


def test_every_read_against_the_real_prometheus(prom_sandbox: PromSandbox) -> None:
    url = prom_sandbox.prometheus.url
    # both targets scraped three times (the first scrape of each lands up to one interval apart)
    prom_sandbox.prometheus.wait_for_series("count(count_over_time(up[30s]) >= 3) >= 2")
    with PrometheusClient(url.replace("http://", f"http://alice:{SECRET}@")) as prometheus:
        assert prometheus.where == url and SECRET not in repr(prometheus)
        now = time.time()
        rows = prometheus.query("up", at=now)
        assert {r["metric"]["job"] for r in rows} == {"dcgm", "vllm"}
        history = prometheus.query_range("up", now - 30, now, 1)
        assert history and all(len(r["values"]) >= 2 for r in history)
        assert "DCGM_FI_DEV_FB_USED" in prometheus.label_values("__name__", '{job="dcgm"}', now - 600)
        assert "Hostname" in prometheus.label_names("DCGM_FI_DEV_FB_USED", now - 600)
        assert prometheus.alerts() == {"status": "success", "data": {"alerts": []}}
        assert prometheus.rules("alert")["data"] == {"groups": []}
        assert "scrape_interval: 1s" in prometheus.config_yaml()
    settings = Settings(prometheus_url=url)
    assert prometheus_alerts(settings)["status"] == "success"
    assert prometheus_rules(settings)["status"] == "success"
    reader = prometheus_rules_reader(settings)
    assert reader is not None and reader()["data"] == {"groups": []}, "the deploy engine's rules read"
    assert covered_by_prometheus(settings) == set()


def test_prometheus_rejects_a_query_with_its_own_message(prom_sandbox: PromSandbox) -> None:
    with PrometheusClient(prom_sandbox.prometheus.url) as prometheus, pytest.raises(PrometheusError) as err:
        prometheus.query("sum(")
    assert (err.value.kind, err.value.status) == ("http", 400) and "parse error" in err.value.detail
    assert str(err.value) == f"Prometheus at {prom_sandbox.prometheus.url} answered HTTP 400: {err.value.detail}"


def test_credentials_go_into_the_headers_of_every_read(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with fake_prometheus() as (url, seen):
        with PrometheusClient(url.replace("http://", f"http://alice:{SECRET}@") + "/") as prometheus:
            prometheus.label_values("__name__")
            prometheus.alerts()
            prometheus.rules()
        with PrometheusClient(url, token=SECRET, username="ignored", password="x") as prometheus:
            prometheus.label_names()
            prometheus.get("/api/v1/status/buildinfo")
    basic = "Basic " + base64.b64encode(f"alice:{SECRET}".encode()).decode()
    assert [(r["path"].split("?")[0], r["headers"].get("Authorization")) for r in seen] == [
        ("/api/v1/label/__name__/values", basic), ("/api/v1/alerts", basic), ("/api/v1/rules", basic),
        ("/api/v1/labels", f"Bearer {SECRET}"), ("/api/v1/status/buildinfo", f"Bearer {SECRET}")]
    assert SECRET not in caplog.text


def test_a_dead_port_fails_at_once_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}"
    prometheus = PrometheusClient(url.replace("http://", f"http://alice:{SECRET}@"), token="s3cret-token")
    for read in (lambda: prometheus.query("up"), prometheus.alerts, prometheus.rules,
                 lambda: prometheus.query_range("up", time.time() - 60, time.time(), 15)):
        started = time.monotonic()
        with pytest.raises(PrometheusError) as err:
            read()
        assert time.monotonic() - started < 1.0, "no retries on a dead port"
        refused = "connection refused (nothing listens on that port)"
        assert (err.value.kind, err.value.reason) == ("unreachable", refused)
        assert str(err.value) == f"Prometheus unreachable at {url}: connection refused (nothing listens on that port)"
        assert err.value.__cause__ is None and err.value.__suppress_context__
    prometheus.close()
    assert SECRET not in caplog.text and "s3cret" not in caplog.text and SECRET not in repr(prometheus)
    refused = r"connection refused \(nothing listens on that port\)"
    with pytest.raises(ValueError, match=rf"^Prometheus unreachable at {url}: {refused}$"):
        fetch_rules(url, username="alice", password=SECRET)


def test_refused_slow_and_strange_answers() -> None:
    with fake_prometheus(status=401) as (url, _seen), PrometheusClient(url, token="tok") as prometheus:
        with pytest.raises(PrometheusError) as err:
            prometheus.alerts()
        assert err.value.kind == "refused" and str(err.value) == (
            f"Prometheus at {url} refused the request (HTTP 401): check prometheus_token / prometheus_username")
    with fake_prometheus(status=503) as (url, _seen), pytest.raises(
            ValueError, match=rf"^Prometheus at {url} answered HTTP 503 to /api/v1/rules: unauthorized$"):
        fetch_rules(url)
    with fake_prometheus(delay=3.0) as (url, _seen), PrometheusClient(url, timeout=0.5) as prometheus:
        started = time.monotonic()
        with pytest.raises(PrometheusError) as err:
            prometheus.rules()
        assert time.monotonic() - started < 2.0
        assert str(err.value) == f"Prometheus unreachable at {url}: timed out"
    with fake_prometheus() as (url, _seen), PrometheusClient(url) as prometheus:
        with pytest.raises(PrometheusError) as err:
            prometheus.config_yaml()  # the stand-in's data is a list
        assert err.value.kind == "answer" and str(err.value).startswith(f"unexpected answer from Prometheus at {url}")
