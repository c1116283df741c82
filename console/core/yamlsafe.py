"""YAML read without the billion-laughs trap: aliases are checked before anything is built.

``yaml.safe_load`` refuses arbitrary objects but not a small document whose aliases expand to
billions of nodes (a values file of a few hundred bytes made ``llmctl render`` use 3.9 GB). Here the
document is composed first — a graph in which an alias is a shared node, so composing costs what the
text costs — and its expanded size is counted on that graph (each node's size once, memoised); only a
document within ``max_nodes`` is then constructed.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 200_000  # far above any kubeconfig, values file or config llmctl reads; far below a bomb
MAX_DEPTH = 100


class YamlError(ValueError):
    """A document that is not valid YAML, or too big once its aliases are expanded."""


def _invalid(what: str, exc: yaml.YAMLError) -> YamlError:
    """One line: where and what (PyYAML's own message spans several lines with a copy of the input)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = " ".join(str(exc.problem or "syntax error").split())
        return YamlError(f"{what} is not valid YAML (line {mark.line + 1}, column {mark.column + 1}): {problem}")
    return YamlError(f"{what} is not valid YAML: {' '.join(str(exc).split())}")


def expanded_size(node: yaml.Node, limit: int = MAX_NODES) -> int:
    """How many nodes ``node`` stands for with every alias expanded (stops counting past ``limit``)."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise YamlError(f"nested more than {MAX_DEPTH} levels deep")
        known = sizes.get(id(n))
        if known is not None:
            return known
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for item in n.value:
                total += size(item, depth + 1)
                if total > limit:
                    break
        elif isinstance(n, yaml.MappingNode):
            for key, value in n.value:
                total += size(key, depth + 1) + size(value, depth + 1)
                if total > limit:
                    break
        sizes[id(n)] = total
        return total

    return size(node, 0)


def safe_load(text: str | bytes, what: str = "YAML", max_nodes: int = MAX_NODES) -> Any:
    """``yaml.safe_load`` for one document, refusing documents that expand past ``max_nodes`` nodes or
    nest too deep. YamlError says which input and why."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _invalid(what, exc) from None
    except RecursionError:
        raise YamlError(f"{what} nests too deep") from None
    if node is None:
        return None
    try:
        if expanded_size(node, max_nodes) > max_nodes:
            raise YamlError(f"{what} expands to more than {max_nodes:,} YAML nodes (aliases: a 'billion "
                            "laughs' document?)")
    except RecursionError:
        raise YamlError(f"{what} nests too deep") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(what, exc) from None
