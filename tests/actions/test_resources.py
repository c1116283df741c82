"""The resources form's input: quantities, GPUs, and the memory buffer (limit ≥ request + 2Gi)."""

from __future__ import annotations

import pytest

from console.actions.resources import parse_resources
from console.actions.validate import ActionError

NOW = {"requests": {"cpu": "4", "memory": "12Gi", "nvidia.com/gpu": "1"},
       "limits": {"memory": "14Gi", "nvidia.com/gpu": "1"}}


def test_empty_fields_keep_what_is_there_and_gpus_set_request_and_limit() -> None:
    assert parse_resources({}, NOW) == NOW
    out = parse_resources({"memory_limit": "16Gi", "gpus": "2", "cpu_limit": "8"}, NOW)
    assert out["limits"] == {"memory": "16Gi", "nvidia.com/gpu": "2", "cpu": "8"}
    assert out["requests"] == {"cpu": "4", "memory": "12Gi", "nvidia.com/gpu": "2"}


@pytest.mark.parametrize(("values", "why"), [
    ({"memory_limit": "13Gi"}, "must be at least the request 12Gi + 2Gi"),
    ({"memory_request": "15Gi"}, "below its request"),
    ({"memory_limit": "lots"}, "is not a quantity"),
    ({"cpu_request": "-1"}, "must not be negative"),
    ({"gpus": "1.5"}, "whole number"),
    ({"cpu_request": "8", "cpu_limit": "2"}, "cpu limit 2 is below its request 8"),
])
def test_bad_input_is_refused_before_anything_is_sent(values: dict[str, str], why: str) -> None:
    with pytest.raises(ActionError) as refused:
        parse_resources(values, NOW)
    assert why in refused.value.message and refused.value.code == 2
