"""console.core.jsondecode gives exactly what json.loads gives — for any JSON document, and for what only json.loads
accepts (orjson refuses it; json decodes it) — and fails where json.loads fails, with json's error."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.core.jsondecode import decode

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text())
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                         st.dictionaries(st.text(), inner, max_size=5)), max_leaves=30)


def same(a: Any, b: Any) -> bool:
    """Equal, with types (1 == 1.0 == True in Python; json keeps them apart) and NaN equal to itself."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(documents, st.booleans())
def test_any_document_decodes_as_json_decodes_it(doc: Any, ascii_only: bool) -> None:
    text = json.dumps(doc, ensure_ascii=ascii_only)
    for data in (text, text.encode(), bytearray(text.encode()), memoryview(text.encode())):
        assert same(decode(data), json.loads(bytes(data) if isinstance(data, memoryview) else data))


@pytest.mark.parametrize("text", [
    '{"replicas": 123456789012345678901234567890}',  # beyond 64 bits: a custom resource's spec may hold one
    '[-18446744073709551617, 18446744073709551616]',
    '{"ratio": NaN, "limit": Infinity, "floor": -Infinity}',
    '{"name": "\\ud800 lone surrogate"}',
    '{"a": 1, "a": 2}',  # the last of a repeated key wins
    '{"x": 1.0, "y": 1e400, "z": -0.0, "w": 0.1}',
    ' \n[1, 2]\n ',
])
def test_what_only_json_accepts_decodes_as_json_decodes_it(text: str) -> None:
    assert same(decode(text), json.loads(text))
    assert same(decode(text.encode("utf-8", "surrogatepass")), json.loads(text.encode("utf-8", "surrogatepass")))


@pytest.mark.parametrize("text", ["", "{", '{"a": }', "[1,]", "nul", '"\x00"', "{} {}", b"\xff\xfe"])
def test_what_json_refuses_fails_with_jsons_error(text: str | bytes) -> None:
    with pytest.raises(json.JSONDecodeError if not isinstance(text, bytes) else ValueError) as got:
        decode(text)
    with pytest.raises(ValueError) as expected:
        json.loads(text)
    assert type(got.value) is type(expected.value) and str(got.value) == str(expected.value)
