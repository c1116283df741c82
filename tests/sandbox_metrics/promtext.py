"""A tiny Prometheus text-format (0.0.4) parser and PromQL's histogram_quantile, for the tests.

prometheus_client is not a dependency of the project (and its newer parsers rewrite ``vllm:`` names),
so the tests read the exposition with this strict little parser instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)')


@dataclass
class Family:
    name: str
    type: str
    help: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    out, pos = {}, 0
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if m is None:
            raise ValueError(f"bad labels: {text!r}")
        out[m.group(1)] = m.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        pos = m.end()
    return out


def parse(text: str) -> dict[str, Family]:
    """Families by name; every sample must follow its family's HELP and TYPE lines."""
    families: dict[str, Family] = {}
    current: Family | None = None
    helps: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name not in families, f"family {name} declared twice"
            assert name in helps, f"TYPE before HELP for {name}"
            current = families[name] = Family(name, kind, helps[name])
        elif line.strip():
            m = _SAMPLE.match(line)
            assert m is not None, f"bad sample line {line!r}"
            assert current is not None, f"sample before any TYPE: {line!r}"
            name = m.group(1)
            suffixes = ("_bucket", "_sum", "_count") if current.type == "histogram" else ("",)
            assert any(name == current.name + s for s in suffixes), f"{name} outside family {current.name}"
            current.samples.append((name, _labels(m.group(2)), float(m.group(3))))
    return families


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """PromQL's histogram_quantile over (upper bound, cumulative count) pairs, +Inf last."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total <= 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == math.inf:
                return lower
            return lower + (le - lower) * (rank - below) / (count - below) if count > below else le
        lower, below = le, count
    return lower
