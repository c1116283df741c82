"""Scope a PromQL expression to one app: add label matchers to every series selector in it.

``vllm:num_requests_waiting > 10`` becomes ``vllm:num_requests_waiting{namespace="llm",pod=~"…"} > 10``, so the
PrometheusRule each deployment gets fires for its own pods only — N deployments no longer fire N copies of
every alert. A small lexer, not a parser: it knows PromQL's strings, comments, numbers and durations, range
and subquery brackets, label lists after ``by``/``without``/``on``/``ignoring``/``group_left``/``group_right``,
function and aggregation calls (a name followed by ``(``), keywords, and ``{…}`` matchers (ours go first,
the expression's own are kept). promtool checks what it produces in the tests.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?(?:[a-zA-Z][0-9a-zA-Z]*)*")
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}
# Aggregation operators are keywords to PromQL's lexer, also when ``by (…)``/``without (…)`` come first.
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
                 "quantile", "limitk", "limit_ratio"}
_CLOSE = {"(": ")", "[": "]", "{": "}"}


def _string_end(text: str, i: int) -> int:
    """The index after the string literal starting at ``i`` (quotes ", ' or `; backslash escapes)."""
    quote, j = text[i], i + 1
    while j < len(text):
        if text[j] == "\\" and quote != "`":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    raise ValueError(f"unterminated string in {text!r}")


def _group_end(text: str, i: int) -> int:
    """The index after the bracket group opening at ``i`` (nested brackets and strings skipped)."""
    stack = [_CLOSE[text[i]]]
    j = i + 1
    while j < len(text):
        c = text[j]
        if c in "\"'`":
            j = _string_end(text, j)
            continue
        if c in _CLOSE:
            stack.append(_CLOSE[c])
        elif stack and c == stack[-1]:
            stack.pop()
            if not stack:
                return j + 1
        j += 1
    raise ValueError(f"unbalanced {text[i]!r} in {text!r}")


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _with_matchers(block: str, matchers: str) -> str:
    """``{a="b"}`` → ``{OURS,a="b"}``; ``{}`` → ``{OURS}``."""
    inner = block[1:-1].strip()
    return "{" + matchers + ("," + inner if inner else "") + "}"


def scope_expr(expr: str, matchers: str) -> str:
    """``expr`` with ``matchers`` (``namespace="llm",pod=~"a-.+"``) added to every series selector.

    Raises ValueError on unbalanced brackets or an unterminated string."""
    out: list[str] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = _string_end(expr, i)
            out.append(expr[i:j])
        elif c == "#":
            j = expr.find("\n", i)
            j = n if j < 0 else j
            out.append(expr[i:j])
        elif c == "[":
            j = _group_end(expr, i)
            out.append(expr[i:j])
        elif c == "{":  # a selector without a metric name: {__name__=~"…"}
            j = _group_end(expr, i)
            out.append(_with_matchers(expr[i:j], matchers))
        elif c.isdigit() or (c == "." and i + 1 < n and expr[i + 1].isdigit()):
            m = _NUMBER.match(expr, i)
            j = m.end() if m else i + 1
            out.append(expr[i:j])
        elif _NAME.match(expr, i):
            m = _NAME.match(expr, i)
            assert m is not None
            name, j = m.group(0), m.end()
            k = _skip_space(expr, j)
            nxt = expr[k] if k < n else ""
            low = name.lower()
            if low in _LABEL_LISTS:
                out.append(name)
                if nxt == "(":
                    out.append(expr[j:k])
                    j = _group_end(expr, k)
                    out.append(expr[k:j])
            elif low in _KEYWORDS or low in _AGGREGATIONS or nxt == "(":
                out.append(name)  # a keyword, a function or an aggregation
            elif nxt == "{":
                end = _group_end(expr, k)
                out.append(name + _with_matchers(expr[k:end], matchers))
                j = end
            else:
                out.append(name + "{" + matchers + "}")
        else:
            j = i + 1
            out.append(c)
        i = j
    return "".join(out)
