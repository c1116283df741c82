"""The values file behind ``llmctl render`` and ``llmctl deploy``: schema, loading, validation.

One YAML file (``manifests/values.example.yaml`` documents every key) describes a serving deployment.
Loading it checks everything that can be checked without a cluster and reports every problem at once,
each naming its key path and, when the text came from a file, its line::

    values.yaml:14: autoscaling.minReplicas: 5 must not exceed autoscaling.maxReplicas (3)
    values.yaml:3: unknown key "replica" — did you mean "replicas"?

:func:`check_against_nodes` adds the checks that need the cluster's GPU nodes (GPUs per replica
against the GPUs a node has, the model's size against GPU memory). Pure functions, no I/O but
reading the file: the wizard builds values with :func:`parse_values` from a dict and shows the
same problems under its form fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from console.core.units import MEMORY_BUFFER, binary_size, parse_quantity
from console.core.yamlsafe import YamlError, safe_load
from console.deploy.values.derived import memory_fit_problem, memory_for, single_node_volume_problem
from console.deploy.values.schema import (
    DURATION_PATTERN,
    ENV_NAME_PATTERN,
    LABEL_KEY_PATTERN,
    PERCENT_PATTERN,
    SCHEMA,
    Key,
    Problem,
    Values,
    ValuesError,
    label_value_problem,
)


# ---- loading -----------------------------------------------------------------------------------------
def _line_map(node: yaml.Node, prefix: str, lines: dict[str, int], problems: list[Problem]) -> None:
    """Key path → line (1-based) of every mapping key; duplicate keys are problems (YAML keeps the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{prefix}.{key}" if prefix else key
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(path, "duplicate key (YAML would silently keep only the last one)", line))
            seen.add(key)
            lines.setdefault(path, line)
            _line_map(value_node, path, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            lines.setdefault(path, item.start_mark.line + 1)
            _line_map(item, path, lines, problems)


def load_values_text(text: str, source: str | None = None) -> Values:
    """Parse and validate values from YAML text; raises :class:`ValuesError` (with line numbers)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = safe_load(text, "the values")  # refuses alias bombs and deep nesting before building anything
    except YamlError as exc:
        raise ValuesError([Problem("", str(exc))], source) from None
    except RecursionError:
        raise ValuesError([Problem("", "the values nest too deep")], source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        col = f", column {mark.column + 1}" if mark is not None else ""
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "syntax error"
        raise ValuesError([Problem("", f"not valid YAML{col}: {what}", line)], source) from None
    except yaml.YAMLError as exc:
        raise ValuesError([Problem("", f"not valid YAML: {exc}")], source) from None
    lines: dict[str, int] = {}
    problems: list[Problem] = []
    if node is not None:
        _line_map(node, "", lines, problems)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValuesError([Problem("", f"expected a mapping of keys (name: value), got {_type_name(data)}", 1)],
                          source)
    return parse_values(data, lines, problems, source)


def load_values_file(path: str | Path) -> Values:
    """Read and validate a values file; a missing or unreadable file is a ValuesError too."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValuesError([Problem("", f"no values file at {p}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValuesError([Problem("", f"cannot read {p}: {getattr(exc, 'strerror', None) or exc}")]) from None
    return load_values_text(text, str(path))


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value:g})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _suggest(key: str, known: list[str]) -> str:
    flat = {re.sub(r"[-_]", "", k).lower(): k for k in known}
    hit = flat.get(re.sub(r"[-_]", "", key).lower())
    if hit is None:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hit = close[0] if close else None
    return f' — did you mean "{hit}"?' if hit else f" (known keys: {', '.join(known)})"


class _Parser:
    def __init__(self, lines: dict[str, int], problems: list[Problem]) -> None:
        self.lines = lines
        self.problems = problems

    def problem(self, path: str, message: str) -> None:
        """Record a problem at ``path``, with the line of that key (or of its nearest parent)."""
        probe, line = path, self.lines.get(path)
        while line is None and "." in probe:
            probe = probe.rsplit(".", 1)[0]
            line = self.lines.get(probe)
        self.problems.append(Problem(path, message, line))

    def section(self, schema: dict[str, Key], data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in data:
            if str(key) not in schema:
                path = f"{prefix}.{key}" if prefix else str(key)
                where = f"in {prefix}" if prefix else "at the top level"
                self.problem(path, f'unknown key "{key}" {where}{_suggest(str(key), list(schema))}')
        for key, spec in schema.items():
            path = f"{prefix}.{key}" if prefix else key
            if spec.kind == "section":
                given = data.get(key, {})
                if given is None:
                    given = {}
                if not isinstance(given, dict):
                    self.problem(path, f"must be a mapping of keys, not {_type_name(given)}")
                    given = {}
                out[key] = self.section(spec.children or {}, given, path)
            elif key in data:
                out[key] = self.value(spec, data[key], path)
            else:
                if spec.default is None and not spec.nullable:
                    self.problem(path, "is required")
                out[key] = _copy(spec.default)
        return out

    def value(self, spec: Key, value: Any, path: str) -> Any:
        if value is None:
            if spec.nullable:
                return None
            self.problem(path, f"must be {_expected(spec)}, not nothing (null)")
            return _copy(spec.default)
        checker = getattr(self, f"_{spec.kind}")
        result = checker(spec, value, path)
        if result is _BAD:
            return _copy(spec.default)
        if spec.choices and result not in spec.choices:
            self.problem(path, f"must be one of {', '.join(spec.choices)}, not {result!r}")
            return _copy(spec.default)
        if spec.check is not None and isinstance(result, str):
            why = spec.check(result)
            if why:
                self.problem(path, why)
                return _copy(spec.default)
        return result

    def _range(self, spec: Key, number: float, path: str, shown: str) -> bool:
        if spec.low is not None and number < spec.low:
            self.problem(path, f"{shown} is too small: at least {_num(spec.low, spec.kind)}")
            return False
        if spec.high is not None and number > spec.high:
            self.problem(path, f"{shown} is too large: at most {_num(spec.high, spec.kind)}")
            return False
        return True

    def _str(self, spec: Key, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            self.problem(path, f"must be a string, not {_type_name(value)}")
            return _BAD
        if not value.strip():
            self.problem(path, "must not be empty")
            return _BAD
        return value.strip()

    def _int(self, spec: Key, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, f"must be a whole number, not {_type_name(value)}")
            return _BAD
        return value if self._range(spec, value, path, str(value)) else _BAD

    def _number(self, spec: Key, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(path, f"must be a number, not {_type_name(value)}")
            return _BAD
        return float(value) if self._range(spec, float(value), path, f"{value:g}") else _BAD

    def _bool(self, spec: Key, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, not {_type_name(value)}")
            return _BAD
        return value

    def _quantity(self, spec: Key, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(path, f"must be a quantity such as \"4\" or \"500m\", not {_type_name(value)}")
            return _BAD
        text = str(value).strip()
        try:
            number = float(parse_quantity(text))
        except ValueError:
            self.problem(path, f"{text!r} is not a quantity (e.g. \"4\", \"500m\", \"12Gi\")")
            return _BAD
        return text if self._range(spec, number, path, text) else _BAD

    def _memory(self, spec: Key, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.problem(path, f"must be a size such as \"12Gi\", not {_type_name(value)}")
            return _BAD
        text = str(value).strip()
        try:
            number = float(parse_quantity(text))
        except ValueError:
            self.problem(path, f"{text!r} is not a size (e.g. \"512Mi\", \"12Gi\")")
            return _BAD
        if isinstance(value, int) or text.isdigit():
            self.problem(path, f"{text} is a number of bytes; write a unit, e.g. \"12Gi\"")
            return _BAD
        if not self._range(spec, number, path, text):
            return _BAD
        return text

    def _intorpercent(self, spec: Key, value: Any, path: str) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                self.problem(path, f"{value} must not be negative")
                return _BAD
            return value
        if isinstance(value, str) and PERCENT_PATTERN.match(value.strip()) and int(value.strip()[:-1]) <= 100:
            return value.strip()
        self.problem(path, f"must be a whole number or a percentage such as \"25%\", not {_type_name(value)}")
        return _BAD

    def _duration(self, spec: Key, value: Any, path: str) -> Any:
        if not isinstance(value, str) or not DURATION_PATTERN.match(value.strip()):
            self.problem(path, f"must be a duration such as \"15s\" or \"1m\", not {_type_name(value)}")
            return _BAD
        return value.strip()

    def _map(self, spec: Key, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping of names to strings, not {_type_name(value)}")
            return _BAD
        out = {}
        for k, v in value.items():
            where = f"{path}.{k}"
            if not isinstance(v, str):
                hint = f' (quote it: "{str(v).lower() if isinstance(v, bool) else v}")' \
                    if isinstance(v, bool | int | float) else ""
                self.problem(where, f"must be a string, not {_type_name(v)}{hint}")
                continue
            name = str(k)
            if path == "env" and not ENV_NAME_PATTERN.match(name):
                self.problem(where, f"{name!r} is not a valid environment variable name")
                continue
            if path != "env" and not LABEL_KEY_PATTERN.match(name):
                self.problem(where, f"{name!r} is not a valid label key")
                continue
            if path != "env" and label_value_problem(v):
                self.problem(where, label_value_problem(v) or "")
                continue
            out[name] = v
        return out

    def _strlist(self, spec: Key, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            self.problem(path, f"must be a list of strings, not {_type_name(value)}")
            return _BAD
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                self.problem(f"{path}[{i}]", f"must be a string, not {_type_name(item)}")
                continue
            out.append(str(item))
        return out


_BAD = object()


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else list(value) if isinstance(value, list) else value


def _num(value: float, kind: str) -> str:
    if kind == "memory":
        return binary_size(value)
    return f"{value:g}"


def _expected(spec: Key) -> str:
    return {"str": "a string", "int": "a whole number", "number": "a number", "bool": "true or false",
            "quantity": "a quantity", "memory": "a size such as \"12Gi\"", "map": "a mapping",
            "strlist": "a list of strings", "intorpercent": "a number or a percentage",
            "duration": "a duration such as \"15s\""}.get(spec.kind, spec.kind)


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _build(schema: dict[str, Key], data: Mapping[str, Any], cls: type) -> Any:
    kwargs = {}
    for key, spec in schema.items():
        attr = spec.attr or _camel_to_snake(key)
        value = data[key]
        if spec.kind == "section":
            value = _build(spec.children or {}, value, spec.cls or dict)
        elif spec.kind == "strlist":
            value = tuple(value)
        kwargs[attr] = value
    return cls(**kwargs)


def _pct(value: int | str, total: int, up: bool) -> int:
    if isinstance(value, str):
        p = int(value[:-1])
        return -(-p * total // 100) if up else p * total // 100
    return value


def _memory_checks(data: dict[str, Any], problem: Callable[[str, str], None], warn: list[str]) -> None:
    """The article's OOM rule (limit ≥ request + 2 GiB), the weights against the memory, /dev/shm within it."""
    res, size = data["resources"], data["model"]["sizeGiB"]
    try:
        request_text, limit_text = memory_for(size, res["memoryRequest"], res["memoryLimit"])
        request, limit = float(parse_quantity(request_text)), float(parse_quantity(limit_text))
    except ValueError:
        return
    if limit < request + MEMORY_BUFFER:
        derived = "" if res["memoryRequest"] else (", from model.sizeGiB" if size else ", the default")
        problem("resources.memoryLimit", f"{limit_text} must be at least resources.memoryRequest "
                f"({request_text}{derived}) + 2Gi = {binary_size(request + MEMORY_BUFFER)}: the source article's "
                "OOM rule keeps a 2 GiB buffer between request and limit")
        return
    if why := memory_fit_problem(size, request_text, limit_text):
        warn.append(f"resources: {why}")
    shm = res["shmSize"]
    if shm and float(parse_quantity(shm)) > limit:
        warn.append(f"resources.shmSize {shm} is more than the memory limit {limit_text}: /dev/shm is memory, "
                    "charged to the pod, so it can never hold that much")


def _cross_checks(data: dict[str, Any], problem: Callable[[str, str], None], warn: list[str]) -> None:
    """Combinations that cannot work (the individual keys are already valid)."""
    _memory_checks(data, problem, warn)
    st = data["strategy"]
    surge = _pct(st["maxSurge"], max(data["replicas"], 1), True)
    unavailable = _pct(st["maxUnavailable"], max(data["replicas"], 1), False)
    if st["maxSurge"] in (0, "0%") and st["maxUnavailable"] in (0, "0%"):
        problem("strategy.maxUnavailable", "maxSurge and maxUnavailable must not both be 0: the rollout could "
                "never replace a pod")
    elif surge == 0 and unavailable == 0:
        warn.append("strategy: the percentages round to maxSurge 0 / maxUnavailable 0 at these replicas; "
                    "Kubernetes then uses maxUnavailable 1")
    hpa, pools = data["autoscaling"], data["pools"]
    if hpa["enabled"]:
        if hpa["minReplicas"] > hpa["maxReplicas"]:
            problem("autoscaling.minReplicas", f"{hpa['minReplicas']} must not exceed autoscaling.maxReplicas "
                    f"({hpa['maxReplicas']})")
        elif not pools["enabled"] and not hpa["minReplicas"] <= data["replicas"] <= hpa["maxReplicas"]:
            problem("replicas", f"{data['replicas']} is outside autoscaling.minReplicas–maxReplicas "
                    f"({hpa['minReplicas']}–{hpa['maxReplicas']}): the HPA would change it at once")
        if hpa["cpuUtilization"] is None and hpa["gpuUtilization"] is None and hpa["queueLength"] is None:
            problem("autoscaling", "enabled without a metric: set cpuUtilization, gpuUtilization or queueLength "
                    "(or enabled: false)")
    if pools["enabled"]:
        for which in ("short", "long"):
            pool = pools[which]
            if hpa["enabled"] and pool["minReplicas"] > pool["maxReplicas"]:
                problem(f"pools.{which}.minReplicas", f"{pool['minReplicas']} must not exceed "
                        f"pools.{which}.maxReplicas ({pool['maxReplicas']})")
            elif hpa["enabled"] and not pool["minReplicas"] <= pool["replicas"] <= pool["maxReplicas"]:
                problem(f"pools.{which}.replicas", f"{pool['replicas']} is outside pools.{which}.minReplicas–"
                        f"maxReplicas ({pool['minReplicas']}–{pool['maxReplicas']}): the HPA would change it at once")
    replicas = pools["short"]["replicas"] + pools["long"]["replicas"] if pools["enabled"] else data["replicas"]
    most = (max(pools["short"]["maxReplicas"], pools["long"]["maxReplicas"]) if pools["enabled"]
            else hpa["maxReplicas"]) if hpa["enabled"] else replicas
    storage = data["storage"]
    if storage["accessMode"] == "ReadWriteOncePod" and max(replicas, most) > 1:
        problem("storage.accessMode", "ReadWriteOncePod lets only one pod mount the weights, but up to "
                f"{max(replicas, most)} replicas would need them: use ReadOnlyMany")
    if not storage["create"] and storage["size"] != SCHEMA["storage"].children["size"].default:  # type: ignore[index]
        warn.append("storage.size is ignored with storage.create: false (the existing claim is used as it is)")
    if data["image"] and data["image"].rsplit("/", 1)[-1].partition("@")[0].endswith(":latest"):
        warn.append(f"image {data['image']}: a 'latest' tag hides which build a pod runs and breaks rollbacks")


def parse_values(data: Mapping[str, Any], lines: dict[str, int] | None = None,
                 problems: list[Problem] | None = None, source: str | None = None) -> Values:
    """Validate a values mapping (as loaded from YAML, or built by the wizard) into :class:`Values`.

    Raises :class:`ValuesError` listing every problem; ``lines`` maps key paths to lines for messages."""
    problems = list(problems or [])
    parser = _Parser(lines or {}, problems)
    normalized = parser.section(SCHEMA, data, "")
    warnings: list[str] = []
    bad = {p.path for p in problems}

    def combination(path: str, message: str) -> None:
        # A combination involving a key that is already wrong would judge its default: leave it out.
        if not any(b and (b == path or b in message or b.startswith(path + ".")) for b in bad):
            parser.problem(path, message)

    _cross_checks(normalized, combination, warnings)
    if problems:
        problems.sort(key=lambda p: (p.line or 10**9, p.path))
        raise ValuesError(problems, source)
    values = _build(SCHEMA, normalized, Values)
    if why := single_node_volume_problem(values):
        warnings.append(why)
    return dataclasses.replace(values, warnings=tuple(warnings))


def default_values(image: str, **overrides: Any) -> Values:
    """The defaults with ``image`` (and any top-level overrides, camelCase keys) — a wizard's start."""
    return parse_values({"image": image, **overrides})


def values_to_dict(values: Values) -> dict[str, Any]:
    """The values as a values-file mapping (camelCase keys, every key present) — for the progress file,
    or to write the wizard's answers as a values file the user owns."""
    def walk(schema: dict[str, Key], obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, spec in schema.items():
            value = getattr(obj, spec.attr or _camel_to_snake(key))
            if spec.kind == "section":
                out[key] = walk(spec.children or {}, value)
            elif isinstance(value, tuple):
                out[key] = list(value)
            elif isinstance(value, dict):
                out[key] = dict(value)
            else:
                out[key] = value
        return out
    return walk(SCHEMA, values)
