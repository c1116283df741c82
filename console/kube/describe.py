"""Any object as ``kubectl describe`` lays it out: its identity, its fields, its conditions, and the events
about it — for every kind, CRDs included (kubectl's generic describer prints the fields the same way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.core.units import age
from console.kube.errors import KubeError

if TYPE_CHECKING:
    from console.kube.discovery import Resource
    from console.kube.transport import KubeTransport

SKIPPED = ("managedFields",)
IDENTITY = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations")


def _scalar(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fields(value: Any, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SKIPPED:
                continue
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{_title(key)}:")
                _fields(item, indent + 1, out)
            else:
                out.append(f"{pad}{_title(key)}:  {_scalar(item) if item not in ({}, []) else '<none>'}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                lines: list[str] = []
                _fields(item, indent + 1, lines)
                if lines:
                    out.append(f"{pad}- {lines[0].strip()}")
                    out += lines[1:]
            else:
                out.append(f"{pad}- {_scalar(item)}")
    else:
        out.append(f"{pad}{_scalar(value)}")


def _title(key: str) -> str:
    """``restartPolicy`` → ``Restart Policy`` (kubectl's generic describer); a qualified name such as
    ``nvidia.com/gpu`` (a resource, a label) stays as written."""
    if "." in key or "/" in key:
        return key
    words, word = [], ""
    for ch in key:
        if ch.isupper() and word and not word[-1].isupper():
            words.append(word)
            word = ch
        else:
            word += ch
    words.append(word)
    return " ".join(w[:1].upper() + w[1:] for w in words if w)


def _mapping(title: str, values: dict[str, Any] | None) -> list[str]:
    if not values:
        return [f"{title}:".ljust(14) + "<none>"]
    items = sorted(values.items())
    first, *rest = [f"{k}={v}" for k, v in items]
    return [f"{title}:".ljust(14) + first, *(" " * 14 + line for line in rest)]


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return [line(header), line(tuple("-" * len(h) for h in header)), *(line(r) for r in rows)]


def render(obj: dict[str, Any], events: list[dict[str, Any]] | None) -> str:
    """The describe text of ``obj`` and the events about it (None: they could not be read)."""
    meta = obj.get("metadata") or {}
    out = [f"Name:         {meta.get('name', '')}"]
    if meta.get("namespace"):
        out.append(f"Namespace:    {meta['namespace']}")
    out += _mapping("Labels", meta.get("labels"))
    out += _mapping("Annotations", {k: v for k, v in (meta.get("annotations") or {}).items()
                                    if k != "kubectl.kubernetes.io/last-applied-configuration"})
    out.append(f"API Version:  {obj.get('apiVersion', '')}")
    out.append(f"Kind:         {obj.get('kind', '')}")
    out.append(f"Created:      {meta.get('creationTimestamp', '<unknown>')}")
    owners = meta.get("ownerReferences") or []
    if owners:
        out.append("Controlled By:  " + ", ".join(f"{o.get('kind')}/{o.get('name')}" for o in owners))
    rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    conditions = None
    if isinstance(rest.get("status"), dict):  # conditions get their own table, as kubectl prints them
        rest["status"] = {k: v for k, v in rest["status"].items() if k != "conditions"}
        conditions = obj["status"].get("conditions")
    for key, value in rest.items():
        out.append(f"{_title(key)}:")
        _fields(value, 1, out)
    if conditions:
        out.append("Conditions:")
        out += _table(("Type", "Status", "Reason", "Message"),
                      [(str(c.get("type", "")), str(c.get("status", "")), str(c.get("reason") or ""),
                        str(c.get("message") or "")) for c in conditions])
    if events is None:
        out.append("Events:       <could not be read>")
    elif not events:
        out.append("Events:       <none>")
    else:
        out.append("Events:")
        ordered = sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
        out += _table(("Type", "Reason", "Age", "From", "Message"),
                      [(str(e.get("type", "")), str(e.get("reason", "")),
                        age(e.get("lastTimestamp") or e.get("eventTime")) or "",
                        str((e.get("source") or {}).get("component") or e.get("reportingComponent") or ""),
                        str(e.get("message", "")).strip()) for e in ordered])
    return "\n".join(out) + "\n"


async def describe(transport: KubeTransport, resource: Resource, namespace: str | None, name: str) -> str:
    """Read the object and its events, and render them (raises KubeError for the object itself; events
    that cannot be read are said, not fatal)."""
    obj = await transport.get(resource.item(name, namespace if resource.namespaced else None))
    obj = {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
    selector = f"involvedObject.name={name},involvedObject.kind={resource.kind}"
    path = f"/api/v1/namespaces/{namespace}/events" if resource.namespaced and namespace else "/api/v1/events"
    events: list[dict[str, Any]] | None
    try:
        events = await transport.list(path, [("fieldSelector", selector)])
    except KubeError:
        events = None
    if events is not None and resource.namespaced and obj.get("metadata", {}).get("uid"):
        uid = obj["metadata"]["uid"]
        events = [e for e in events if (e.get("involvedObject") or {}).get("uid") in (None, "", uid)]
    return render(obj, events)
