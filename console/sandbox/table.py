"""Server-side printing: the ``meta.k8s.io/v1 Table`` that ``kubectl get`` asks for.

kubectl prints the columns the server sends (uppercased) and adds NAMESPACE itself from each row's
``object`` metadata; columns with priority 1 appear only with ``-o wide``. Column names and cell
values follow kube-apiserver's printers (pkg/printers/internalversion) so ``kubectl get`` against
the sandbox looks like ``kubectl get`` against a cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from .clock import parse_timestamp
from .podstatus import pod_cells
from .selectors import selector_to_string

Obj = dict[str, Any]
Column = tuple[str, str, int]  # (name, type, priority)
TABLE_ACCEPT = "as=Table"


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def wants_table(accept: str | None) -> bool:
    """Whether an Accept header asks for a Table (kubectl get sends ``application/json;as=Table;...``)."""
    return accept is not None and TABLE_ACCEPT in accept.replace(" ", "")


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: 45s, 3m20s, 15m, 5h10m, 3d4h, 2y10d..."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: datetime | None = None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = parse_timestamp(timestamp[:19] + "Z")  # MicroTime (eventTime) has fractions
    except ValueError:
        return "<unknown>"
    return human_duration(((now or datetime.now(UTC)) - then).total_seconds())


# ---- pods -------------------------------------------------------------------------------------------
def _pod_row(pod: Obj) -> list[Any]:
    cells = pod_cells(pod)  # READY, STATUS, RESTARTS: the sandbox's own printPod (podstatus.py)
    restarts = cells.restarts
    shown_restarts = f"{restarts} ({age(cells.last_restart)} ago)" if restarts and cells.last_restart \
        else str(restarts)
    status, spec = _status(pod), _spec(pod)
    nominated = status.get("nominatedNodeName") or "<none>"
    gates = spec.get("readinessGates") or []
    return [_meta(pod).get("name"), f"{cells.ready}/{cells.total}", cells.status, shown_restarts,
            age(_meta(pod).get("creationTimestamp")), status.get("podIP") or "<none>",
            spec.get("nodeName") or "<none>", nominated, f"{len(gates)}/{len(gates)}" if gates else "<none>"]


# ---- workloads --------------------------------------------------------------------------------------
def _containers_images(obj: Obj) -> list[str]:
    containers = ((_spec(obj).get("template") or {}).get("spec") or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            selector_to_string(_spec(obj).get("selector")) or "<none>"]


def _deployment_row(d: Obj) -> list[Any]:
    st = _status(d)
    return [_meta(d).get("name"), f"{st.get('readyReplicas', 0)}/{_spec(d).get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            age(_meta(d).get("creationTimestamp")), *_containers_images(d)]


def _replicaset_row(rs: Obj) -> list[Any]:
    st = _status(rs)
    return [_meta(rs).get("name"), _spec(rs).get("replicas", 0), st.get("replicas", 0),
            st.get("readyReplicas", 0), age(_meta(rs).get("creationTimestamp")), *_containers_images(rs)]


def _daemonset_row(ds: Obj) -> list[Any]:
    st = _status(ds)
    node_selector = ((_spec(ds).get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [_meta(ds).get("name"), st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or "<none>",
            age(_meta(ds).get("creationTimestamp")), *_containers_images(ds)]


def _hpa_targets(hpa: Obj) -> str:
    current = {}
    for m in _status(hpa).get("currentMetrics") or []:
        if m.get("type") == "Resource":
            res = m.get("resource") or {}
            cur = res.get("current") or {}
            shown = f"{cur['averageUtilization']}%" if "averageUtilization" in cur else cur.get("averageValue")
            current[("Resource", res.get("name"))] = shown
        elif m.get("type") == "Pods":
            pods = m.get("pods") or {}
            key = ("Pods", (pods.get("metric") or {}).get("name"))
            current[key] = (pods.get("current") or {}).get("averageValue")
    parts = []
    for m in _spec(hpa).get("metrics") or []:
        if m.get("type") == "Resource":
            res = m.get("resource") or {}
            target = res.get("target") or {}
            want = f"{target['averageUtilization']}%" if "averageUtilization" in target \
                else target.get("averageValue")
            have = current.get(("Resource", res.get("name"))) or "<unknown>"
            parts.append(f"{res.get('name')}: {have}/{want}")
        elif m.get("type") == "Pods":
            pods = m.get("pods") or {}
            name = (pods.get("metric") or {}).get("name")
            have = current.get(("Pods", name)) or "<unknown>"
            parts.append(f"{name}: {have}/{(pods.get('target') or {}).get('averageValue')}")
        else:
            parts.append(f"<{m.get('type', 'unknown').lower()}>")
    if not parts:
        return "<none>"
    return ", ".join(parts[:2]) + (f" + {len(parts) - 2} more..." if len(parts) > 2 else "")


def _hpa_row(hpa: Obj) -> list[Any]:
    ref = _spec(hpa).get("scaleTargetRef") or {}
    return [_meta(hpa).get("name"), f"{ref.get('kind')}/{ref.get('name')}", _hpa_targets(hpa),
            _spec(hpa).get("minReplicas", 1), _spec(hpa).get("maxReplicas", 0),
            _status(hpa).get("currentReplicas", 0), age(_meta(hpa).get("creationTimestamp"))]


# ---- the rest ---------------------------------------------------------------------------------------
def _node_row(node: Obj) -> list[Any]:
    conds = {c.get("type"): c.get("status") for c in _status(node).get("conditions") or []}
    state = {"True": "Ready", "False": "NotReady"}.get(conds.get("Ready") or "", "Unknown")
    if _spec(node).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = _meta(node).get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = _status(node).get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in _status(node).get("addresses") or []}
    return [_meta(node).get("name"), state, ",".join(roles) or "<none>", age(_meta(node).get("creationTimestamp")),
            info.get("kubeletVersion", ""), addrs.get("InternalIP") or "<none>",
            addrs.get("ExternalIP") or "<none>", info.get("osImage", ""), info.get("kernelVersion", ""),
            info.get("containerRuntimeVersion", "")]


def _event_row(ev: Obj) -> list[Any]:
    last = ev.get("lastTimestamp") or ev.get("eventTime") or _meta(ev).get("creationTimestamp")
    first = ev.get("firstTimestamp") or ev.get("eventTime") or _meta(ev).get("creationTimestamp")
    count = ev.get("count") or 1
    seen = age(last)
    if count > 1:
        seen = f"{seen} (x{count} over {age(first)})"
    obj = ev.get("involvedObject") or {}
    source = ev.get("source") or {}
    return [seen, ev.get("type", ""), ev.get("reason", ""), f"{str(obj.get('kind', '')).lower()}/{obj.get('name')}",
            ev.get("message", ""), obj.get("fieldPath") or "", source.get("component") or "",
            age(first), count, _meta(ev).get("name")]


def _service_row(svc: Obj) -> list[Any]:
    spec = _spec(svc)
    ingress = (_status(svc).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname") or "" for i in ingress) or \
        ",".join(spec.get("externalIPs") or []) or ("<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    ports = ",".join(
        f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    ) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    return [_meta(svc).get("name"), spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", external,
            ports, age(_meta(svc).get("creationTimestamp")), selector]


def _pvc_row(pvc: Obj) -> list[Any]:
    spec, st = _spec(pvc), _status(pvc)
    capacity = (st.get("capacity") or {}).get("storage", "")
    modes = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    access = ",".join(modes.get(m, m) for m in st.get("accessModes") or [])
    return [_meta(pvc).get("name"), st.get("phase", "Pending"), spec.get("volumeName", ""), capacity, access,
            spec.get("storageClassName") or "<unset>", age(_meta(pvc).get("creationTimestamp")),
            spec.get("volumeMode", "Filesystem")]


def _namespace_row(ns: Obj) -> list[Any]:
    return [_meta(ns).get("name"), _status(ns).get("phase", "Active"), age(_meta(ns).get("creationTimestamp"))]


def _configmap_row(cm: Obj) -> list[Any]:
    return [_meta(cm).get("name"), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
            age(_meta(cm).get("creationTimestamp"))]


def _secret_row(secret: Obj) -> list[Any]:
    return [_meta(secret).get("name"), secret.get("type", "Opaque"), len(secret.get("data") or {}),
            age(_meta(secret).get("creationTimestamp"))]


def _pdb_row(pdb: Obj) -> list[Any]:
    spec = _spec(pdb)
    shown = [str(spec[k]) if spec.get(k) is not None else "N/A" for k in ("minAvailable", "maxUnavailable")]
    return [_meta(pdb).get("name"), *shown, _status(pdb).get("disruptionsAllowed", 0),
            age(_meta(pdb).get("creationTimestamp"))]


def _serviceaccount_row(sa: Obj) -> list[Any]:
    return [_meta(sa).get("name"), len(sa.get("secrets") or []), age(_meta(sa).get("creationTimestamp"))]


def _generic_row(obj: Obj) -> list[Any]:
    return [_meta(obj).get("name"), age(_meta(obj).get("creationTimestamp"))]


_S, _I = "string", "integer"
PRINTERS: dict[str, tuple[list[Column], Callable[[Obj], list[Any]]]] = {
    "pods": ([("Name", _S, 0), ("Ready", _S, 0), ("Status", _S, 0), ("Restarts", _S, 0), ("Age", _S, 0),
              ("IP", _S, 1), ("Node", _S, 1), ("Nominated Node", _S, 1), ("Readiness Gates", _S, 1)], _pod_row),
    "deployments": ([("Name", _S, 0), ("Ready", _S, 0), ("Up-to-date", _I, 0), ("Available", _I, 0),
                     ("Age", _S, 0), ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)],
                    _deployment_row),
    "replicasets": ([("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0), ("Ready", _I, 0), ("Age", _S, 0),
                     ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)], _replicaset_row),
    "daemonsets": ([("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0), ("Ready", _I, 0),
                    ("Up-to-date", _I, 0), ("Available", _I, 0), ("Node Selector", _S, 0), ("Age", _S, 0),
                    ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)], _daemonset_row),
    "horizontalpodautoscalers": ([("Name", _S, 0), ("Reference", _S, 0), ("Targets", _S, 0),
                                  ("MinPods", _S, 0), ("MaxPods", _I, 0), ("Replicas", _I, 0), ("Age", _S, 0)],
                                 _hpa_row),
    "nodes": ([("Name", _S, 0), ("Status", _S, 0), ("Roles", _S, 0), ("Age", _S, 0), ("Version", _S, 0),
               ("Internal-IP", _S, 1), ("External-IP", _S, 1), ("OS-Image", _S, 1), ("Kernel-Version", _S, 1),
               ("Container-Runtime", _S, 1)], _node_row),
    "events": ([("Last Seen", _S, 0), ("Type", _S, 0), ("Reason", _S, 0), ("Object", _S, 0), ("Message", _S, 0),
                ("Subobject", _S, 1), ("Source", _S, 1), ("First Seen", _S, 1), ("Count", _I, 1),
                ("Name", _S, 1)], _event_row),
    "services": ([("Name", _S, 0), ("Type", _S, 0), ("Cluster-IP", _S, 0), ("External-IP", _S, 0),
                  ("Port(s)", _S, 0), ("Age", _S, 0), ("Selector", _S, 1)], _service_row),
    "persistentvolumeclaims": ([("Name", _S, 0), ("Status", _S, 0), ("Volume", _S, 0), ("Capacity", _S, 0),
                                ("Access Modes", _S, 0), ("StorageClass", _S, 0), ("Age", _S, 0),
                                ("VolumeMode", _S, 1)], _pvc_row),
    "namespaces": ([("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)], _namespace_row),
    "configmaps": ([("Name", _S, 0), ("Data", _I, 0), ("Age", _S, 0)], _configmap_row),
    "secrets": ([("Name", _S, 0), ("Type", _S, 0), ("Data", _I, 0), ("Age", _S, 0)], _secret_row),
    "poddisruptionbudgets": ([("Name", _S, 0), ("Min Available", _S, 0), ("Max Unavailable", _S, 0),
                              ("Allowed Disruptions", _I, 0), ("Age", _S, 0)], _pdb_row),
    "serviceaccounts": ([("Name", _S, 0), ("Secrets", _I, 0), ("Age", _S, 0)], _serviceaccount_row),
}
GENERIC: tuple[list[Column], Callable[[Obj], list[Any]]] = ([("Name", _S, 0), ("Age", _S, 0)], _generic_row)


def column_definitions(plural: str) -> list[Obj]:
    columns, _ = PRINTERS.get(plural, GENERIC)
    return [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n, "priority": p}
            for n, t, p in columns]


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _meta(obj)}


def rows(plural: str, objects: Iterable[Obj], include: str = "Metadata") -> list[Obj]:
    """Table rows; ``include`` is the ``includeObject`` query value (None, Metadata, Object)."""
    _, printer = PRINTERS.get(plural, GENERIC)
    out = []
    for obj in objects:
        row: Obj = {"cells": printer(obj)}
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        out.append(row)
    return out


def table(plural: str, objects: Iterable[Obj], list_meta: Obj | None = None, include: str = "Metadata",
          with_columns: bool = True) -> Obj:
    """A ``meta.k8s.io/v1 Table`` of ``objects`` (one object for a GET, the page for a LIST)."""
    body: Obj = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {}}
    if with_columns:
        body["columnDefinitions"] = column_definitions(plural)
    body["rows"] = rows(plural, objects, include)
    return body
