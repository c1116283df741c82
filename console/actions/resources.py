"""What a person types into the resources form, checked before anything is sent: memory and CPU requests and
limits, and GPUs (``nvidia.com/gpu``, a whole number whose request equals its limit, as the device plugin
requires). The memory limit must leave a buffer over the request (limit ≥ request + 2Gi): a model server's
memory grows past its steady state while it loads and under a long context, and a limit at the request is an
OOMKill waiting to happen.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from console.actions.validate import EXIT_USAGE, ActionError
from console.core.units import parse_quantity

GPU = "nvidia.com/gpu"
MEMORY_BUFFER = Decimal(2 * 1024**3)  # 2Gi
FIELDS = (("memory_request", "requests", "memory"), ("memory_limit", "limits", "memory"),
          ("cpu_request", "requests", "cpu"), ("cpu_limit", "limits", "cpu"))


def _quantity(text: str, what: str) -> Decimal:
    try:
        value = parse_quantity(text)
    except (ValueError, InvalidOperation, TypeError):
        raise ActionError(EXIT_USAGE, f"{what}: {text!r} is not a quantity (e.g. 12Gi, 500m, 4)") from None
    if value < 0:
        raise ActionError(EXIT_USAGE, f"{what} must not be negative, not {text!r}")
    return value


def parse_resources(values: dict[str, str], current: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The container's resources after the form: ``values`` holds memory_request, memory_limit, cpu_request,
    cpu_limit and gpus (empty: leave as it is); ``current`` is the container's resources now. Raises
    ActionError (exit 2) for a value that is not a quantity or a memory limit without its buffer."""
    out = {"requests": dict(current.get("requests") or {}), "limits": dict(current.get("limits") or {})}
    for key, part, name in FIELDS:
        text = (values.get(key) or "").strip()
        if text:
            _quantity(text, f"{part} {name}")
            out[part][name] = text
    gpus = (values.get("gpus") or "").strip()
    if gpus:
        if not gpus.isdigit() or int(gpus) > 64:
            raise ActionError(EXIT_USAGE, f"GPUs must be a whole number from 0 to 64, not {gpus!r}")
        out["requests"][GPU] = out["limits"][GPU] = gpus
    for name in ("memory", "cpu"):
        low, high = out["requests"].get(name), out["limits"].get(name)
        if low and high and _quantity(str(high), name) < _quantity(str(low), name):
            raise ActionError(EXIT_USAGE, f"the {name} limit {high} is below its request {low}")
    low, high = out["requests"].get("memory"), out["limits"].get("memory")
    if low and high and _quantity(str(high), "memory") < _quantity(str(low), "memory") + MEMORY_BUFFER:
        raise ActionError(EXIT_USAGE, f"the memory limit {high} must be at least the request {low} + 2Gi: "
                                      "a model server grows past its request while loading and under long contexts")
    return out
