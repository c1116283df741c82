"""console.core.units: one parser per unit, the display forms kubectl and the panels use."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from console.core.units import (
    age,
    age_until,
    as_int,
    binary_size,
    clock,
    decimal_size,
    human_duration,
    parse_duration,
    parse_quantity,
    quantity_or_none,
)


def test_quantities_follow_the_api_server() -> None:
    assert parse_quantity("12Gi") == 12 * 2**30 and parse_quantity("500m") == pytest.approx(0.5)
    assert parse_quantity("1e3") == 1000 and parse_quantity(2) == 2 and parse_quantity("1.5G") == 1.5e9
    for bad in ("12 Gi", "Gi", "", "12GB", "1,5", None, True, "٣"):
        with pytest.raises(ValueError):
            parse_quantity(bad)
        assert quantity_or_none(bad) is None
    assert as_int("3") == 3 and as_int(None) == 0 and as_int("x") == 0


def test_quantity_parser_does_not_import_the_kubernetes_client() -> None:
    code = ("import sys; from console.core.units import parse_quantity; parse_quantity('1Gi'); "
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "the whole client costs ~0.5 s to import"


def test_durations() -> None:
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5 and parse_duration("2d") == 172800
    for bad in ("", "90", "1 h", "-1m", "1h x", "1x", "m"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_ages() -> None:
    cases = {0: "0s", 59: "59s", 60: "1m", 150: "2m", 7199: "119m", 7200: "2h", 47 * 3600: "47h", 50 * 3600: "2d",
             400 * 86400: "400d", -5: "0s"}
    assert {s: human_duration(s) for s in cases} == cases
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert age((now - timedelta(minutes=5, seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ"), now) == "5m"
    assert age("2026-11-30T23:59:30.123456Z", now) == "29s" and age("", now) == "-" and age("garbage", now) == "-"


def test_an_age_holds_exactly_until_the_second_it_is_due_to_change() -> None:
    created = "2026-12-01T00:00:00Z"
    start = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    for elapsed in (-3, 0, 1, 59, 60, 61, 119, 3599, 7199, 7200, 7201, 86399, 172799, 172800, 400 * 86400 + 17):
        now = start + elapsed + 0.25
        text, until = age_until(created, now)
        assert text == age(created, datetime.fromtimestamp(now, UTC)), elapsed
        assert until > now and age(created, datetime.fromtimestamp(until - 0.001, UTC)) == text, elapsed
        assert age(created, datetime.fromtimestamp(until, UTC)) != text, f"{elapsed}: due at {until - start}"
    assert age_until("", start) == ("-", float("inf"))


def test_clock_and_sizes() -> None:
    assert [clock(s) for s in (45, 120, 3900, 90000)] == ["45s", "2m00s", "1h05m", "1d01h"]
    assert binary_size(14 * 2**30) == "14Gi" and binary_size(14.9 * 2**30) == "14.9Gi"
    assert binary_size(512 * 2**20) == "512Mi"
    assert decimal_size(2.1e9) == "2.1 GB" and decimal_size(307_000) == "307 kB" and decimal_size(12) == "12 B"
