"""Units, one place for each: Kubernetes quantities, durations, and how sizes and ages are shown.

- Quantities (``12Gi``, ``500m``, ``1e9``) are parsed by the official client's own parser
  (``kubernetes.utils.quantity``), loaded on its own: importing the ``kubernetes`` package for it would
  cost ~0.5 s of start-up for one pure function.
- Durations are Prometheus's and Alertmanager's form (``500ms``, ``90s``, ``1h30m``, ``2d``, ``1w``): one
  or more number+unit parts, nothing else.
- Ages and elapsed times are shown two ways: :func:`human_duration`, a table's AGE in one unit (``12m``,
  ``3h``), and :func:`clock`, ``45s`` / ``2m05s`` / ``1h05m``, where minutes and seconds both matter
  ("resolved after 2m00s", "data 1m05s ago").
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any

KIB, MIB, GIB, TIB = 1024, 1024**2, 1024**3, 1024**4
MEMORY_BUFFER = 2 * GIB  # the source article: limit = request + 2 GiB, or the container is OOMKilled on peaks
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# The API server's grammar for a quantity (k8s.io/apimachinery resource.Quantity): a signed decimal number and
# one binary (Ki…Ei), decimal (n u m k M G T P E) or exponent (e3, E-2) suffix, no spaces.
_QUANTITY = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w|y)")


# ---- quantities --------------------------------------------------------------------------------------
@cache
def _k8s_quantity() -> ModuleType:
    """``kubernetes.utils.quantity`` (it needs only ``decimal``), without importing the whole client."""
    loaded = sys.modules.get("kubernetes.utils.quantity")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("kubernetes")  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise ImportError("the kubernetes package is not installed")
    path = Path(spec.origin).parent / "utils" / "quantity.py"
    module_spec = importlib.util.spec_from_file_location("llmctl._k8s_quantity", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity as a number (bytes, cores, GPUs): ``12Gi`` → 12884901888, ``500m`` → 0.5.
    ValueError when it is not one (the API server would refuse it too)."""
    if isinstance(value, bool) or value is None or not _QUANTITY.fullmatch(str(value)):
        raise ValueError(f"not a quantity: {value!r}")
    try:
        return Decimal(_k8s_quantity().parse_quantity(value))
    except ValueError as exc:
        raise ValueError(f"not a quantity: {value!r}") from exc


def quantity_or_none(value: object) -> float | None:
    """A quantity as a float, or None when it is missing or malformed (for reading what a server sent)."""
    try:
        number = float(parse_quantity(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def as_int(value: object) -> int:
    """A whole number from a JSON field or an integer quantity (``"1"``, ``2``); 0 when absent or not one."""
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def quantity_text(value: object) -> str:
    """A quantity as a person reads it in a table: ``57630m`` → ``57.6``, ``60`` → ``60``."""
    text = str(value)
    if text.endswith("m") and text[:-1].isdigit():
        number = int(text[:-1]) / 1000
        return f"{number:.1f}".rstrip("0").rstrip(".") if number < 100 else f"{number:.0f}"
    return text


# ---- sizes -------------------------------------------------------------------------------------------
def binary_size(n: float) -> str:
    """Bytes in Kubernetes' binary units, as a manifest writes them: ``14Gi``, ``14.9Gi``, ``512Mi``."""
    for unit, size in (("Ti", TIB), ("Gi", GIB), ("Mi", MIB)):
        if n >= size:
            value = n / size
            return f"{value:g}{unit}" if value == int(value) else f"{value:.1f}{unit}"
    return f"{n:g}"


def decimal_size(size: float) -> str:
    """Bytes as the Docker CLI prints them (decimal units): ``2.1 GB``, ``307 kB``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1000
    return f"{value:.3g} TB"


# ---- durations ---------------------------------------------------------------------------------------
def parse_duration(text: object) -> float:
    """Seconds in a Prometheus/Alertmanager duration: ``15s``, ``1m30s``, ``500ms``, ``2h``, ``1d``.
    ValueError for anything else (no sign, no spaces, no bare number)."""
    shown = str(text).strip()
    parts = _DURATION_PART.findall(shown)
    if not parts or "".join(v + u for v, u in parts) != shown:
        raise ValueError(f"not a duration: {text!r} (expected a number and a unit, e.g. 90s, 30m, 2h or 1d)")
    seconds = sum(float(v) * DURATION_UNITS[u] for v, u in parts)
    if not math.isfinite(seconds):
        raise ValueError(f"not a duration: {text!r} (too long)")
    return seconds


# ---- ages --------------------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as the API writes it (``2026-11-25T03:08:10Z``, fractions allowed) → aware UTC.
    Each text is parsed once: tables show the same objects' ages on every redraw (see :func:`_parsed_time`)."""
    if not value or not isinstance(value, str):
        return None
    return _parsed_time(value)


@lru_cache(maxsize=1 << 16)  # one entry per object timestamp in view (a 20k-pod cluster fits), ~200 B each
def _parsed_time(value: str) -> datetime | None:
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_AGE_UNITS = (("d", 86400, 2 * 86400), ("h", 3600, 2 * 3600), ("m", 60, 60))  # unit, size, shown from


def human_duration(seconds: float) -> str:
    """A table's AGE: ``45s``, ``12m``, ``3h``, ``5d`` — one unit, which changes at 1 minute, 2 hours and 2 days
    (so a fresh pod says ``119m`` rather than ``1h``, as kubectl would, and a row does not flicker)."""
    s = int(max(seconds, 0))
    for unit, size, threshold in _AGE_UNITS:
        if s >= threshold:
            return f"{s // size}{unit}"
    return f"{s}s"


def age(timestamp: Any, now: datetime | None = None) -> str:
    """The AGE of an RFC 3339 timestamp (:func:`human_duration`); ``-`` when there is none."""
    then = parse_time(timestamp)
    if then is None:
        return "-"
    return human_duration(((now or datetime.now(UTC)) - then).total_seconds())


def age_until(timestamp: Any, now: float) -> tuple[str, float]:
    """:func:`age` at ``now`` (epoch seconds), and the epoch second it changes at: a table of 10,000 rows asks
    again only for the ages that are due (``5d`` is good for hours), not for every row on every redraw."""
    then = parse_time(timestamp)
    if then is None:
        return "-", math.inf
    start = then.timestamp()
    s = int(max(now - start, 0))
    size = next((size for _, size, threshold in _AGE_UNITS if s >= threshold), 1)
    return human_duration(s), start + (s // size + 1) * size


def clock(seconds: float) -> str:
    """An elapsed time where minutes and seconds both matter: ``45s``, ``2m05s``, ``1h05m``, ``2d04h``."""
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def shown(value: Any) -> str:
    """A field's value as a person writes it (YAML-like): ``true``/``false``, ``-`` for none, JSON for
    lists and mappings, else the text — never a Python repr (``True``, ``None``, ``{'a': 1}``)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, default=str)
    return str(value)
