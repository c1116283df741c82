"""Version parsing is strict and total: valid text → a tuple of ints, anything else → VersionError with a
reason, never another exception (property-based)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.compat.facts import parse_arch_list
from console.compat.rules import driver_verdict
from console.compat.versions import VersionError, driver_table, format_version, parse_version

VALID = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){0,3}")
parts = st.lists(st.integers(min_value=0, max_value=999_999_999), min_size=1, max_size=4)


@pytest.mark.parametrize(("text", "expected"), [
    ("12.2", (12, 2)), ("12.2.2", (12, 2, 2)), ("535.104.05", (535, 104, 5)), ("570.26", (570, 26)),
    ("580", (580,)), ("1.2.3.4", (1, 2, 3, 4)),
])
def test_examples(text: str, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(("text", "why"), [
    ("", "empty"), ("12.", "empty part"), (".12", "empty part"), ("12..2", "empty part"),
    ("v12.2", "'v12'"), ("12.2-rc1", "'2-rc1'"), (" 12.2", "' 12'"), ("12.2\n", "'2\\n'"), ("-1.0", "'-1'"),
    ("+1", "'+1'"), ("1.2.3.4.5", "5 parts"), ("1" * 10, "1–9 digits"), ("١٢.٢", "0-9"), ("12,2", "'12,2'"),
])
def test_malformed_text_says_why(text: str, why: str) -> None:
    with pytest.raises(VersionError) as exc:
        parse_version(text)
    assert "not a version number" in str(exc.value) and why in str(exc.value)


@given(parts)
def test_valid_versions_round_trip(numbers: list[int]) -> None:
    text = format_version(numbers)
    assert parse_version(text) == tuple(numbers)


@given(parts, st.lists(st.integers(0, 2), min_size=1, max_size=4))
def test_leading_zeros_are_digits(numbers: list[int], pads: list[int]) -> None:
    text = ".".join("0" * pads[i % len(pads)] + str(n) for i, n in enumerate(numbers))
    if all(len(p) <= 9 for p in text.split(".")):
        assert parse_version(text) == tuple(numbers)


@settings(max_examples=500)
@given(st.text(max_size=30) | st.from_regex(r"[0-9.]{0,15}", fullmatch=True))
def test_total_over_any_text(text: str) -> None:
    try:
        result = parse_version(text)
    except VersionError as exc:
        assert str(exc).startswith("not a version number")
        assert not VALID.fullmatch(text)
    else:
        assert VALID.fullmatch(text)
        assert isinstance(result, tuple) and all(isinstance(p, int) and p >= 0 for p in result)


@given(st.none() | st.integers() | st.floats() | st.binary() | st.lists(st.integers()) | st.booleans())
def test_total_over_anything_else(value: object) -> None:
    with pytest.raises(VersionError):
        parse_version(value)


@given(st.text(max_size=20))
def test_the_table_lookup_is_total(text: str) -> None:
    try:
        driver_table().min_driver(text)
    except VersionError:
        pass


@given(st.text(max_size=20), st.text(max_size=20))
def test_a_driver_verdict_never_raises(cuda: str, driver: str) -> None:
    assert driver_verdict(cuda, driver).reason


@given(st.text(max_size=40))
def test_arch_list_parsing_raises_only_value_error(text: str) -> None:
    try:
        arches = parse_arch_list(text)
    except ValueError:
        return
    assert arches and all(re.fullmatch(r"(sm|compute)_[0-9]{2,3}[af]?", a) for a in arches)
