"""What the API server checks in an object before storing it, and the errors it answers with.

Clients see the validation errors (422 ``Invalid`` with one cause per field, worded like kube-apiserver's
field errors), so the console's error handling is exercised against realistic answers. What the server
fills in first (defaults, a new object's status) is in console/sandbox/api_defaults.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .api_defaults import WORKLOADS
from .errors import ApiError
from .gotypes import parse_quantity_exact
from .resources import ResourceType

Obj = dict[str, Any]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@dataclass(frozen=True)
class FieldError:
    """One field error, rendered like apimachinery's ``field.Error``."""

    field: str
    kind: str  # "Invalid" | "Required" | "Forbidden" | "TooLong" | "NotSupported" | "Duplicate"
    value: Any = None
    detail: str = ""

    @property
    def reason(self) -> str:
        return {"Invalid": "FieldValueInvalid", "Required": "FieldValueRequired", "TooLong": "FieldValueTooLong",
                "NotSupported": "FieldValueNotSupported", "Duplicate": "FieldValueDuplicate"}.get(
            self.kind, "FieldValueForbidden")

    def text(self) -> str:
        if self.kind == "Required":
            head = "Required value"
        elif self.kind == "Invalid":
            head = f"Invalid value: {go_value(self.value)}"
        elif self.kind == "TooLong":
            head = "Too long"
        elif self.kind == "NotSupported":
            head = f"Unsupported value: {go_value(self.value)}"
        elif self.kind == "Duplicate":
            head = f"Duplicate value: {go_value(self.value)}"
        else:
            head = "Forbidden"
        return f"{head}: {self.detail}" if self.detail else head


def go_value(value: Any) -> str:
    """A value as Go's ``%#v``-ish rendering in field errors prints it."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(str(k))}:{json.dumps(str(v))}" for k, v in sorted(value.items()))
        return f"map[string]string{{{inner}}}"
    if value is None:
        return "null"
    return str(value)


def invalid_error(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """422 Invalid, e.g. ``Scale.autoscaling "x" is invalid: spec.replicas: Invalid value: -1: ...``."""
    qualified = f"{kind}.{group}" if group else kind
    parts = [f"{e.field}: {e.text()}" for e in errors]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    causes = [{"reason": e.reason, "message": e.text(), "field": e.field} for e in errors]
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {body}', kind=kind, name=name,
                    group=group or None, causes=causes)


def replicas_errors(replicas: Any, field: str = "spec.replicas") -> list[FieldError]:
    if replicas is None:
        return []
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        return [FieldError(field, "Invalid", replicas, "must be an integer")]
    if replicas < 0:
        return [FieldError(field, "Invalid", replicas, "must be greater than or equal to 0")]
    return []


# ---- validation ----------------------------------------------------------------------------------
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_PERCENT = re.compile(r"^[0-9]+%$")
MAX_ANNOTATIONS_BYTES = 256 * 1024  # TotalAnnotationSizeLimitB
MAX_CONFIGMAP_BYTES = 1024 * 1024  # MaxSecretSize, which ConfigMaps share
_STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage", "storage")


def _qualified_name_errors(key: str, where: str) -> list[FieldError]:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return [FieldError(where, "Invalid", key, "prefix part " + _DNS_SUBDOMAIN_MSG)]
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        detail = "name part must be no more than 63 characters" if len(name) > 63 else _QUALIFIED_NAME_MSG
        return [FieldError(where, "Invalid", key, detail)]
    return []


def label_errors(labels: Any, where: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for key, value in (labels or {}).items():
        errors += _qualified_name_errors(key, where)
        if len(value) > 63:
            errors.append(FieldError(where, "Invalid", value, "must be no more than 63 characters"))
        elif not _LABEL_VALUE.match(value):
            errors.append(FieldError(where, "Invalid", value, _LABEL_VALUE_MSG))
    return errors


def _meta_errors(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    meta = obj.get("metadata") or {}
    errors: list[FieldError] = []
    name = meta.get("name") or ""
    if old is None and name and rt.plural != "events":
        if rt.plural == "namespaces" and (len(name) > 63 or not _DNS_LABEL.match(name)):
            errors.append(FieldError("metadata.name", "Invalid", name, _DNS_LABEL_MSG))
        elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            errors.append(FieldError("metadata.name", "Invalid", name, _DNS_SUBDOMAIN_MSG))
    errors += label_errors(meta.get("labels"), "metadata.labels")
    annotations = meta.get("annotations") or {}
    for key in annotations:
        errors += _qualified_name_errors(key, "metadata.annotations")
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        errors.append(FieldError("metadata.annotations", "TooLong", None,
                                 f"must have at most {MAX_ANNOTATIONS_BYTES} bytes"))
    return errors


def _quantity_errors(resources: Any, where: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for kind in ("limits", "requests"):
        for name, value in ((resources or {}).get(kind) or {}).items():
            field = f"{where}.{kind}[{name}]"
            exact = parse_quantity_exact(value)
            if exact is None:
                errors.append(FieldError(field, "Invalid", value, "must be less than 9223372036854775807"))
            elif exact < 0:
                errors.append(FieldError(field, "Invalid", value, "must be greater than or equal to 0"))
            elif name not in _STANDARD_RESOURCES and "/" in name and exact != int(exact):
                errors.append(FieldError(field, "Invalid", value, "must be an integer"))
    limits = (resources or {}).get("limits") or {}
    for name, value in ((resources or {}).get("requests") or {}).items():
        limit, asked = parse_quantity_exact(limits.get(name)), parse_quantity_exact(value)
        if limit is None or asked is None or name not in limits:
            continue
        if name not in _STANDARD_RESOURCES and "/" in name and asked != limit:
            errors.append(FieldError(f"{where}.requests[{name}]", "Invalid", value,
                                     f"must be equal to {name} limit of {limits[name]}"))
        elif asked > limit:
            errors.append(FieldError(f"{where}.requests[{name}]", "Invalid", value,
                                     f"must be less than or equal to {name} limit of {limits[name]}"))
    return errors


def _container_errors(c: Obj, where: str, seen: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    name = c.get("name")
    if not name:
        errors.append(FieldError(f"{where}.name", "Required"))
    elif len(name) > 63 or not _DNS_LABEL.match(name):
        errors.append(FieldError(f"{where}.name", "Invalid", name, _DNS_LABEL_MSG))
    elif name in seen:
        errors.append(FieldError(f"{where}.name", "Duplicate", name))
    seen.add(name or "")
    if not str(c.get("image") or "").strip():
        errors.append(FieldError(f"{where}.image", "Required"))
    for i, port in enumerate(c.get("ports") or []):
        number = port.get("containerPort")
        if number is None:
            errors.append(FieldError(f"{where}.ports[{i}].containerPort", "Required"))
        elif not 1 <= number <= 65535:
            errors.append(FieldError(f"{where}.ports[{i}].containerPort", "Invalid", number,
                                     "must be between 1 and 65535, inclusive"))
    errors += _quantity_errors(c.get("resources"), f"{where}.resources")
    return errors


def _pod_spec_errors(spec: Any, prefix: str) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [FieldError(prefix, "Required")]
    containers = spec.get("containers")
    if not containers:
        return [FieldError(f"{prefix}.containers", "Required")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            errors += _container_errors(c, f"{prefix}.{key}[{i}]", seen)
    for i, toleration in enumerate(spec.get("tolerations") or []):
        seconds = toleration.get("tolerationSeconds")
        if seconds is not None and toleration.get("effect") not in (None, "", "NoExecute"):
            errors.append(FieldError(f"{prefix}.tolerations[{i}].effect", "Invalid", toleration.get("effect"),
                                     "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    for name in ("terminationGracePeriodSeconds", "activeDeadlineSeconds"):
        value = spec.get(name)
        if value is not None and value < 0:
            errors.append(FieldError(f"{prefix}.{name}", "Invalid", value, "must be greater than or equal to 0"))
    return errors


def _is_zero(value: Any) -> bool:
    return value in (0, "0", "0%")


def _int_or_percent_errors(value: Any, field: str, at_most_100: bool = False) -> list[FieldError]:
    """ValidatePositiveIntOrPercent (+ IsNotMoreThan100Percent for maxUnavailable)."""
    if value is None:
        return []
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return [FieldError(field, "Invalid", value, "a valid percent string must be a numeric string followed "
                                                        "by an ending '%' (e.g. '1%',  or '93%', regex used for "
                                                        "validation is '[0-9]+%')")]
        if at_most_100 and int(value[:-1]) > 100:
            return [FieldError(field, "Invalid", value, "must not be greater than 100%")]
        return []
    if value < 0:
        return [FieldError(field, "Invalid", value, "must be greater than or equal to 0")]
    return []


def _nonnegative(spec: Obj, names: tuple[str, ...]) -> list[FieldError]:
    return [FieldError(f"spec.{n}", "Invalid", spec[n], "must be greater than or equal to 0")
            for n in names if spec.get(n) is not None and spec[n] < 0]


def _strategy_errors(plural: str, spec: Obj) -> list[FieldError]:
    key = "strategy" if plural == "deployments" else "updateStrategy"
    strategy = spec.get(key) or {}
    kinds = ("Recreate", "RollingUpdate") if plural == "deployments" else ("OnDelete", "RollingUpdate")
    kind = strategy.get("type")
    if kind is not None and kind not in kinds:
        return [FieldError(f"spec.{key}.type", "NotSupported", kind,
                           "supported values: " + ", ".join(f'"{k}"' for k in kinds))]
    ru = strategy.get("rollingUpdate")
    if ru and kind not in (None, "RollingUpdate"):
        return [FieldError(f"spec.{key}.rollingUpdate", "Forbidden", None,
                           f"may not be specified when strategy `type` is '{kind}'")]
    ru = ru or {}
    errors = _int_or_percent_errors(ru.get("maxSurge"), f"spec.{key}.rollingUpdate.maxSurge")
    errors += _int_or_percent_errors(ru.get("maxUnavailable"), f"spec.{key}.rollingUpdate.maxUnavailable", True)
    if not errors and plural == "deployments" and ru and _is_zero(ru.get("maxSurge")) \
            and _is_zero(ru.get("maxUnavailable")):
        errors.append(FieldError("spec.strategy.rollingUpdate.maxUnavailable", "Invalid",
                                 ru.get("maxUnavailable"), "may not be 0 when `maxSurge` is 0"))
    return errors


def _workload_errors(plural: str, obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = replicas_errors(spec.get("replicas"))
    errors += _nonnegative(spec, ("minReadySeconds", "revisionHistoryLimit"))
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if plural == "deployments" and deadline is not None and deadline <= ready:
        errors.append(FieldError("spec.progressDeadlineSeconds", "Invalid", deadline,
                                 "must be greater than minReadySeconds"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errors.append(FieldError("spec.selector", "Required"))
    else:
        errors += label_errors(selector.get("matchLabels"), "spec.selector.matchLabels")
        if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
            errors.append(FieldError("spec.template.metadata.labels", "Invalid", labels,
                                     "`selector` does not match template `labels`"))
    if old is not None and selector != (old.get("spec") or {}).get("selector"):
        errors.append(FieldError("spec.selector", "Invalid", "", "field is immutable"))
    errors += label_errors(labels, "spec.template.metadata.labels")
    errors += _pod_spec_errors(template.get("spec"), "spec.template.spec")
    if plural != "replicasets":
        errors += _strategy_errors(plural, spec)
    return errors


def _hpa_errors(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    ref = spec.get("scaleTargetRef") or {}
    if not ref.get("kind"):
        errors.append(FieldError("spec.scaleTargetRef.kind", "Required"))
    if not ref.get("name"):
        errors.append(FieldError("spec.scaleTargetRef.name", "Required"))
    low, high = spec.get("minReplicas"), spec.get("maxReplicas")
    if isinstance(low, int) and low < 1:
        errors.append(FieldError("spec.minReplicas", "Invalid", low, "must be greater than or equal to 1"))
    if not isinstance(high, int):
        errors.append(FieldError("spec.maxReplicas", "Required"))
    elif high < 1:
        errors.append(FieldError("spec.maxReplicas", "Invalid", high, "must be greater than 0"))
    elif isinstance(low, int) and high < low:
        errors.append(FieldError("spec.maxReplicas", "Invalid", high,
                                 "must be greater than or equal to `minReplicas`"))
    for i, metric in enumerate(spec.get("metrics") or []):
        for source in ("resource", "pods", "object", "external", "containerResource"):
            target = (metric.get(source) or {}).get("target") or {}
            for name in ("value", "averageValue"):
                exact = parse_quantity_exact(target.get(name)) if target.get(name) is not None else 0
                if exact is None or exact < 0:
                    errors.append(FieldError(f"spec.metrics[{i}].{source}.target.{name}", "Invalid",
                                             target[name], "must be positive"))
            utilization = target.get("averageUtilization")
            if utilization is not None and utilization < 1:
                errors.append(FieldError(f"spec.metrics[{i}].{source}.target.averageUtilization", "Invalid",
                                         utilization, "must be greater than 0"))
    return errors


def _monitoring_errors(plural: str, obj: Obj) -> list[FieldError]:
    """The required fields of the Prometheus Operator's CRD schemas (ServiceMonitor, PrometheusRule)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [FieldError("spec", "Required")]
    if plural == "servicemonitors":
        return [] if isinstance(spec.get("selector"), dict) else [FieldError("spec.selector", "Required")]
    errors = []
    for i, group in enumerate(spec.get("groups") or []):
        if not isinstance(group, dict) or not group.get("name"):
            errors.append(FieldError(f"spec.groups[{i}].name", "Required"))
            continue
        for j, rule in enumerate(group.get("rules") or []):
            if not isinstance(rule, dict) or rule.get("expr") in (None, ""):
                errors.append(FieldError(f"spec.groups[{i}].rules[{j}].expr", "Required"))
    return errors


def _configmap_errors(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    size = 0
    for section in ("data", "binaryData"):
        for key, value in (obj.get(section) or {}).items():
            if len(key) > 253 or not _CONFIG_KEY.match(key):
                errors.append(FieldError(f"{section}[{key}]", "Invalid", key,
                                         "a valid config key must consist of alphanumeric characters, '-', '_' "
                                         "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used "
                                         "for validation is '[-._a-zA-Z0-9]+')"))
            size += len(key) + (len(value.encode()) if section == "data" else len(value) * 3 // 4)
    if size > MAX_CONFIGMAP_BYTES:
        errors.append(FieldError("[]", "TooLong", None, f"must have at most {MAX_CONFIGMAP_BYTES} bytes"))
    return errors


def _service_errors(obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, port in enumerate((obj.get("spec") or {}).get("ports") or []):
        number = port.get("port")
        if number is None or not 1 <= number <= 65535:
            errors.append(FieldError(f"spec.ports[{i}].port", "Invalid", number or 0,
                                     "must be between 1 and 65535, inclusive"))
    errors += label_errors((obj.get("spec") or {}).get("selector"), "spec.selector")
    return errors


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """Raise 422 Invalid listing every field error of ``obj`` (``old`` is the stored one on update)."""
    name = (obj.get("metadata") or {}).get("name") or ""
    errors = _meta_errors(rt, obj, old)
    if rt.plural in WORKLOADS:
        errors += _workload_errors(rt.plural, obj, old)
    elif rt.plural == "pods":
        errors += _pod_spec_errors(obj.get("spec"), "spec")
    elif rt.plural == "horizontalpodautoscalers":
        errors += _hpa_errors(obj)
    elif rt.plural == "configmaps":
        errors += _configmap_errors(obj)
    elif rt.plural == "services":
        errors += _service_errors(obj)
    elif rt.group == "monitoring.coreos.com":
        errors += _monitoring_errors(rt.plural, obj)
    if errors:
        raise invalid_error(rt.kind, rt.group, name, errors)
