"""Any resource as ``kubectl get`` shows it: the server's own ``meta.k8s.io/v1 Table`` (the columns its printers
choose — a CRD's additionalPrinterColumns included), paged as kubectl pages, and the objects themselves for
``-o json|yaml|name``.

A server (or an aggregated API) that cannot print a Table answers with the plain objects; they are shown
with kubectl's default columns, NAME and AGE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.core.units import age
from console.kube.transport import PAGE

if TYPE_CHECKING:
    from console.kube.discovery import Resource
    from console.kube.transport import KubeTransport

# What kubectl 1.30 sends: a v1 Table, else a v1beta1 one, else the object.
TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    priority: int = 0  # > 0: only with -o wide
    description: str = ""


@dataclass(frozen=True)
class Row:
    cells: tuple[Any, ...]
    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> str:
        """A stable identity for a table widget's row (the UID; namespace/name when the server gave none)."""
        return self.uid or f"{self.namespace}/{self.name}"


@dataclass
class ResourceTable:
    resource: Resource
    columns: list[Column]
    rows: list[Row] = field(default_factory=list)

    def header(self, wide: bool = False, namespaces: bool = False) -> list[str]:
        names = [c.name.upper() for c in self.columns if wide or c.priority == 0]
        return ["NAMESPACE", *names] if namespaces else names

    def cells(self, row: Row, wide: bool = False, namespaces: bool = False) -> list[str]:
        values = [cell_text(v) for c, v in zip(self.columns, row.cells, strict=False) if wide or c.priority == 0]
        return [row.namespace, *values] if namespaces else values


def cell_text(value: Any) -> str:
    """A Table cell as kubectl prints it: the text; ``<none>`` for null; numbers without a Python accent."""
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _query(selector: str | None, field_selector: str | None) -> list[tuple[str, Any]]:
    query: list[tuple[str, Any]] = []
    if selector:
        query.append(("labelSelector", selector))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


def _default_table(resource: Resource, objects: list[dict[str, Any]]) -> tuple[list[Column], list[dict]]:
    columns = [Column("Name", "string", 0, "Name"), Column("Age", "date", 0, "Age")]
    rows = [{"cells": [(o.get("metadata") or {}).get("name", ""), age((o.get("metadata") or {})
                                                                     .get("creationTimestamp"))],
             "object": {"metadata": o.get("metadata") or {}}} for o in objects]
    return columns, rows


def _row(raw: dict[str, Any]) -> Row:
    meta = ((raw.get("object") or {}).get("metadata")) or {}
    return Row(cells=tuple(raw.get("cells") or ()), namespace=str(meta.get("namespace") or ""),
               name=str(meta.get("name") or ""), uid=str(meta.get("uid") or ""))


async def fetch_table(transport: KubeTransport, resource: Resource, namespace: str | None, name: str | None = None,
                      selector: str | None = None, field_selector: str | None = None,
                      page: int = PAGE) -> ResourceTable:
    """The Table of one object (``name``) or of the collection (in ``namespace``; None: all namespaces), read
    ``page`` rows at a time. Raises KubeError (NotFound, Forbidden, ...)."""
    if name:
        answer = await transport.request("GET", resource.item(name, namespace), accept=TABLE_ACCEPT)
        pages = [answer]
    else:
        pages, cont = [], ""
        while True:
            query = [*_query(selector, field_selector), ("limit", page), *([("continue", cont)] if cont else [])]
            answer = await transport.request("GET", resource.collection(namespace), query, accept=TABLE_ACCEPT)
            pages.append(answer)
            cont = (answer.get("metadata") or {}).get("continue") or ""
            if not cont:
                break
    first = pages[0]
    if first.get("kind") != "Table":  # no server-side printing: kubectl's default columns
        objects = [o for p in pages for o in (p.get("items") if "items" in p else [p])]
        columns, raw_rows = _default_table(resource, objects)
    else:
        columns = [Column(str(c.get("name") or ""), str(c.get("type") or "string"), int(c.get("priority") or 0),
                          str(c.get("description") or "")) for c in first.get("columnDefinitions") or []]
        raw_rows = [r for p in pages for r in p.get("rows") or []]
    return ResourceTable(resource, columns, [_row(r) for r in raw_rows])


async def fetch_objects(transport: KubeTransport, resource: Resource, namespace: str | None, name: str | None = None,
                        selector: str | None = None, field_selector: str | None = None) -> list[dict[str, Any]]:
    """The objects themselves, each with its ``apiVersion`` and ``kind`` (a LIST's items lack them)."""
    if name:
        objects = [await transport.get(resource.item(name, namespace))]
    else:
        objects = await transport.list(resource.collection(namespace), _query(selector, field_selector))
    return [{"apiVersion": resource.api_version, "kind": resource.kind, **o} for o in objects]


def as_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``kubectl get -o json`` prints for a collection."""
    return {"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}}


def object_names(resource: Resource, objects: list[dict[str, Any]]) -> list[str]:
    """``-o name``: ``deployment.apps/x``, ``pod/y``."""
    return [f"{resource.name_prefix}/{(o.get('metadata') or {}).get('name', '')}" for o in objects]
