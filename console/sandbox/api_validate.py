"""What the API server does to an object before storing it: defaulting, validation, status rules.

Clients see the defaults (a Deployment created without a strategy reads back RollingUpdate 25%/25%)
and the validation errors (422 ``Invalid`` with one cause per field, worded like kube-apiserver's
field errors), so the console's error handling is exercised against realistic answers.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .resources import ResourceType

Obj = dict[str, Any]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_WORKLOADS = ("deployments", "replicasets", "daemonsets")


@dataclass(frozen=True)
class FieldError:
    """One field error, rendered like apimachinery's ``field.Error``."""

    field: str
    kind: str  # "Invalid" | "Required" | "Forbidden"
    value: Any = None
    detail: str = ""

    @property
    def reason(self) -> str:
        return {"Invalid": "FieldValueInvalid", "Required": "FieldValueRequired"}.get(
            self.kind, "FieldValueForbidden")

    def text(self) -> str:
        if self.kind == "Required":
            head = "Required value"
        elif self.kind == "Invalid":
            head = f"Invalid value: {go_value(self.value)}"
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


def prune_nulls(value: Any) -> Any:
    """Drop null fields, as decoding into typed Go structs does (a JSON-patched ``null`` is not stored)."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


# ---- defaulting -------------------------------------------------------------------------------------
def _default_container(c: Obj) -> None:
    image = str(c.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def default_pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                _default_container(c)


def _default_workload(plural: str, obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if plural != "daemonsets":
        spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    if plural == "deployments":
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxUnavailable", "25%")
            ru.setdefault("maxSurge", "25%")
    elif plural == "daemonsets":
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


def normalize(plural: str, obj: Obj) -> None:
    """Drop what Go's ``omitempty`` drops: a paused=false patch reads back with ``paused`` omitted."""
    spec = obj.get("spec")
    if plural == "deployments" and isinstance(spec, dict) and spec.get("paused") is False:
        del spec["paused"]


def apply_defaults(plural: str, obj: Obj) -> None:
    """Fill the fields the API server defaults on every write (in place)."""
    normalize(plural, obj)
    if plural in _WORKLOADS:
        _default_workload(plural, obj)
    elif plural == "pods" and isinstance(obj.get("spec"), dict):
        default_pod_spec(obj["spec"])
    elif plural == "horizontalpodautoscalers":
        obj.setdefault("spec", {}).setdefault("minReplicas", 1)
    elif plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))


def default_update(plural: str, new: Obj, old: Obj) -> None:
    """Defaults for an update, only if the stored object carries them already.

    Objects the scenario and controllers write straight into the store were never defaulted; adding
    defaults to their pod template on, say, a pause patch would change the template and look like a
    new revision to the deployment controller. Such objects are only normalized.
    """
    probe = copy.deepcopy(old)
    apply_defaults(plural, probe)
    if probe == old:
        apply_defaults(plural, new)
    else:
        normalize(plural, new)


def _qos_class(spec: Obj) -> str:
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(res) and (r.get("requests") or {}).get(res, (r.get("limits") or {})[res])
        == (r.get("limits") or {})[res]
        for r in resources for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def initial_status(plural: str, obj: Obj) -> Obj | None:
    """The status a freshly created object starts with (None: keep what the client sent, as for nodes)."""
    if plural == "nodes":
        return None
    if plural == "pods":
        return {"phase": "Pending", "qosClass": _qos_class(obj.get("spec") or {})}
    if plural == "namespaces":
        return {"phase": "Active"}
    if plural == "persistentvolumeclaims":
        return {"phase": "Pending"}
    if plural == "services":
        return {"loadBalancer": {}}
    return {}


# ---- validation -------------------------------------------------------------------------------------
def _pod_spec_errors(spec: Any, prefix: str) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [FieldError(prefix, "Required")]
    containers = spec.get("containers")
    if not containers:
        return [FieldError(f"{prefix}.containers", "Required")]
    errors: list[FieldError] = []
    for i, c in enumerate(containers):
        where = f"{prefix}.containers[{i}]"
        if not isinstance(c, dict):
            errors.append(FieldError(where, "Invalid", c, "must be an object"))
            continue
        if not c.get("name"):
            errors.append(FieldError(f"{where}.name", "Required"))
        if not str(c.get("image") or "").strip():
            errors.append(FieldError(f"{where}.image", "Required"))
    return errors


def _is_zero(value: Any) -> bool:
    return value in (0, "0", "0%")


def _workload_errors(plural: str, obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors = replicas_errors(spec.get("replicas"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errors.append(FieldError("spec.selector", "Required"))
    elif any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        errors.append(FieldError("spec.template.metadata.labels", "Invalid", labels,
                                 "`selector` does not match template `labels`"))
    if old is not None and selector != (old.get("spec") or {}).get("selector"):
        errors.append(FieldError("spec.selector", "Invalid", "", "field is immutable"))
    errors += _pod_spec_errors(template.get("spec"), "spec.template.spec")
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    if plural == "deployments" and ru and _is_zero(ru.get("maxSurge")) and _is_zero(ru.get("maxUnavailable")):
        errors.append(FieldError("spec.strategy.rollingUpdate.maxUnavailable", "Invalid",
                                 ru.get("maxUnavailable"), "may not be 0 when `maxSurge` is 0"))
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
            if not isinstance(rule, dict) or not rule.get("expr"):
                errors.append(FieldError(f"spec.groups[{i}].rules[{j}].expr", "Required"))
    return errors


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """Raise 422 Invalid listing every field error of ``obj`` (``old`` is the stored one on update)."""
    name = (obj.get("metadata") or {}).get("name") or ""
    errors: list[FieldError] = []
    if old is None and name and not _DNS_SUBDOMAIN.match(name) and rt.plural != "events":
        errors.append(FieldError("metadata.name", "Invalid", name, _DNS_SUBDOMAIN_MSG))
    if rt.plural in _WORKLOADS:
        errors += _workload_errors(rt.plural, obj, old)
    elif rt.plural == "pods":
        errors += _pod_spec_errors(obj.get("spec"), "spec")
    elif rt.plural == "horizontalpodautoscalers":
        errors += _hpa_errors(obj)
    elif rt.group == "monitoring.coreos.com":
        errors += _monitoring_errors(rt.plural, obj)
    if errors:
        raise invalid_error(rt.kind, rt.group, name, errors)
