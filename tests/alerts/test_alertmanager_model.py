"""console.alerts.alertmanager without a server: matchers, durations, prefilled matchers, Alertmanager's
alert JSON, merging with Prometheus's alerts, and credentials kept out of messages and reprs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from console.alerts.alertmanager import (
    AlertmanagerClient,
    AlertmanagerError,
    Matcher,
    matchers_for,
    merge_alerts,
    parse_alertmanager_alerts,
    parse_matcher,
    parse_matchers,
    parse_silence_duration,
)
from console.alerts.model import Alert, AlertTarget, parse_prometheus_alerts
from console.audit import AuditLog
from tests.metrics.prom import free_port


@pytest.mark.parametrize(("text", "expected"), [
    ("alertname=GPUFramebufferHigh", Matcher("alertname", "GPUFramebufferHigh")),
    (" pod = claude-inference-1 ", Matcher("pod", "claude-inference-1")),
    ('pod="a b=c"', Matcher("pod", "a b=c")),
    ("severity!=info", Matcher("severity", "info", is_equal=False)),
    ("pod=~claude-.*", Matcher("pod", "claude-.*", is_regex=True)),
    ("node!~gpu-node-[12]", Matcher("node", "gpu-node-[12]", is_regex=True, is_equal=False)),
    ("gpu=", Matcher("gpu", "")),
])
def test_matchers_parse(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected
    assert parse_matcher(str(expected)) == expected  # str() gives a form that parses back


@pytest.mark.parametrize(("texts", "message"), [
    ([], "at least one matcher"),
    (["alertname"], "bad matcher 'alertname': expected name=value"),
    (["1pod=x"], "expected name=value"),
    (["pod=~claude-(.*"], "the regex does not compile: missing ), unterminated subpattern"),
    (["pod=~.*", "gpu!=0"], "would mute everything"),
])
def test_bad_matchers_are_refused(texts: list[str], message: str) -> None:
    with pytest.raises(AlertmanagerError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        parse_matchers(texts)
    assert err.value.kind == "invalid"


def test_matcher_matching_is_anchored_like_alertmanager() -> None:
    assert parse_matcher("pod=~claude-.*").matches("claude-inference-1")
    assert not parse_matcher("pod=~claude").matches("claude-inference-1")
    assert parse_matcher("pod!~claude-.*").matches("")
    assert not parse_matcher("pod=x").matches("")


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
                                                ("1h30m", 5400), ("30d", 30 * 86400), ("0.5h", 1800)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_silence_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "message"), [("0s", "more than 0"), ("0", "expected a number and a unit"),
                                               ("40d", "at most 30d"), ("30d1s", "at most 30d"),
                                               ("2 hours", "expected a number and a unit"), ("", "expected"),
                                               ("-1h", "expected a number and a unit")])
def test_bad_durations(text: str, message: str) -> None:
    with pytest.raises(AlertmanagerError, match=message):
        parse_silence_duration(text)


AM_ALERTS = [
    {"labels": {"alertname": "GPUFramebufferHigh", "severity": "warning", "Hostname": "gpu-node-1", "gpu": "0",
                "UUID": "GPU-1", "namespace": "llm", "pod": "claude-inference-x", "job": "dcgm",
                "instance": "127.0.0.1:1"},
     "annotations": {"summary": "GPU 0 on gpu-node-1 (llm/claude-inference-x) framebuffer 85% used"},
     "startsAt": "2026-11-25T10:00:00.000Z", "endsAt": "2026-11-25T10:04:00.000Z", "fingerprint": "f1",
     "receivers": [{"name": "blackhole"}],
     "status": {"state": "suppressed", "silencedBy": ["3f8bd1a3-5b1e-4c2e-9d1a-2f0c6b1e9a77"], "inhibitedBy": []}},
    {"labels": {"alertname": "LLMLatencyP99High", "severity": "critical", "namespace": "llm", "pod": "p-2",
                "cluster": "prod"},
     "annotations": {}, "startsAt": "2026-11-25T10:01:00Z", "status": {"state": "active"}},
]


def test_alertmanager_alerts_are_parsed_with_their_silences() -> None:
    fb, p99 = parse_alertmanager_alerts(AM_ALERTS)
    assert (fb.source, fb.name, fb.severity, fb.state) == ("alertmanager", "GPUFramebufferHigh", "warning", "firing")
    assert fb.target == AlertTarget(namespace="llm", pod="claude-inference-x", node="gpu-node-1", gpu="0")
    assert fb.silenced_by == ("3f8bd1a3-5b1e-4c2e-9d1a-2f0c6b1e9a77",) and fb.muted and not fb.critical_firing
    assert fb.to_json()["labels"]["UUID"] == "GPU-1" and fb.to_json()["silenced_by"] == list(fb.silenced_by)
    assert p99.critical_firing and p99.summary == "LLMLatencyP99High" and p99.silenced_by == ()
    with pytest.raises(AlertmanagerError, match="not an /api/v2/alerts answer"):
        parse_alertmanager_alerts({"status": "success"})


def test_matchers_for_an_alert_keep_alertname_and_identifying_labels() -> None:
    fb, _ = parse_alertmanager_alerts(AM_ALERTS)
    assert [str(m) for m in matchers_for(fb)] == ['alertname="GPUFramebufferHigh"', 'namespace="llm"',
                                                  'pod="claude-inference-x"', 'Hostname="gpu-node-1"', 'gpu="0"']
    cluster = Alert("cluster", "NodeNotReady", "critical", "firing", None, AlertTarget(node="gpu-node-3"))
    assert [str(m) for m in matchers_for(cluster)] == ['alertname="NodeNotReady"', 'node="gpu-node-3"']


def test_a_prometheus_alert_alertmanager_holds_is_shown_once() -> None:
    prom = parse_prometheus_alerts({"status": "success", "data": {"alerts": [
        {"labels": {"alertname": "LLMLatencyP99High", "severity": "critical", "namespace": "llm", "pod": "p-2"},
         "state": "firing", "activeAt": "2026-11-25T10:00:55Z"},
        {"labels": {"alertname": "LLMLatencyP99High", "severity": "critical", "namespace": "llm", "pod": "p-3"},
         "state": "firing", "activeAt": "2026-11-25T10:00:55Z"},
        {"labels": {"alertname": "LLMKVCacheHigh", "severity": "warning", "namespace": "llm", "pod": "p-2"},
         "state": "pending", "activeAt": "2026-11-25T10:00:55Z"}]}})
    merged = merge_alerts(prom, parse_alertmanager_alerts(AM_ALERTS))
    # p-2's latency alert comes from Alertmanager (it adds cluster="prod"); p-3's and the pending one stay.
    assert sorted((a.source, a.name, a.target.pod) for a in merged) == [
        ("alertmanager", "GPUFramebufferHigh", "claude-inference-x"), ("alertmanager", "LLMLatencyP99High", "p-2"),
        ("prometheus", "LLMKVCacheHigh", "p-2"), ("prometheus", "LLMLatencyP99High", "p-3")]


def test_credentials_stay_out_of_errors_and_reprs(tmp_path: Path) -> None:
    dead = f"http://admin:hunter2@127.0.0.1:{free_port()}/"
    audit = AuditLog(tmp_path / "audit.jsonl")
    for client in (AlertmanagerClient(dead, audit=audit),
                   AlertmanagerClient(dead, token="s3cr3t-token", audit=audit),
                   AlertmanagerClient(dead.replace("admin:hunter2@", ""), username="u", password="hunter2",
                                      audit=audit)):
        assert "hunter2" not in repr(client) and "s3cr3t" not in repr(client)
        with pytest.raises(AlertmanagerError) as err:
            client.silences()
        assert err.value.kind == "unreachable"
        assert str(err.value).startswith(f"Alertmanager unreachable at {client.where}: ")
        assert "connection refused" in str(err.value) and "Errno" not in str(err.value)
        assert "hunter2" not in str(err.value) and "s3cr3t" not in str(err.value)
        assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained request to print
        with pytest.raises(AlertmanagerError):
            client.create_silence(["alertname=X"], "1h", "maintenance", "alice")
    text = (tmp_path / "audit.jsonl").read_text()
    assert text.count('"mode": "refused"') == 3 and "hunter2" not in text and "s3cr3t" not in text
    with pytest.raises(AlertmanagerError, match="bad Alertmanager URL"):
        AlertmanagerClient("127.0.0.1:9093")
