"""core/v1 Events, recorded and aggregated the way client-go's event recorders do.

An identical event (same object, reason, message, type, source) bumps ``count`` and
``lastTimestamp`` of the existing Event instead of creating a new one, so a pod in CrashLoopBackOff
shows "BackOff (x12 over 5m)" in ``kubectl describe`` rather than flooding the namespace.

Components on the newer recorder (the scheduler: ``events.k8s.io/v1``) write what a core/v1 reader then
sees of such an event: ``eventTime`` (microseconds) and no ``firstTimestamp``/``lastTimestamp``/``count``;
a repeat goes into ``series`` (``count``, ``lastObservedTime``); ``source`` is empty and the component is
in ``reportingController``/``reportingInstance``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ApiError
from ..store import Obj, copy_object

if TYPE_CHECKING:
    from ..context import SandboxContext

_INDEX = "events.index"
# Events kept by the aggregator; the oldest are deleted beyond this (the API server's TTL is 1 h).
MAX_EVENTS = 5000


def _index(ctx: SandboxContext) -> OrderedDict[tuple[Any, ...], tuple[str, str]]:
    idx = ctx.extras.get(_INDEX)
    if idx is None:
        idx = ctx.extras[_INDEX] = OrderedDict()
    return idx


def record_event(
    ctx: SandboxContext,
    involved_obj: Mapping[str, Any],
    reason: str,
    message: str,
    type_: str = "Normal",
    component: str = "sandbox",
    *,
    field_path: str | None = None,
    host: str | None = None,
    action: str | None = None,
) -> Obj | None:
    """Create or aggregate an Event about ``involved_obj``; returns the stored Event (None if its
    namespace is gone). Cluster-scoped objects (nodes) get their events in ``default``."""
    meta = involved_obj.get("metadata", {})
    namespace = meta.get("namespace") or "default"
    uid = meta.get("uid", "")
    key = (uid, field_path, reason, message, type_, component, host)
    idx = _index(ctx)
    store = ctx.store
    now = ctx.clock.timestamp()
    found = idx.get(key)
    if found is not None:
        existing = store.try_get("events", *found)
        if existing is not None:
            ev = copy_object(existing)
            if action is not None:
                series = ev.get("series") or {"count": 1}
                ev["series"] = {"count": int(series.get("count") or 1) + 1,
                                "lastObservedTime": ctx.clock.micro_timestamp()}
            else:
                ev["count"] = int(ev.get("count") or 1) + 1
                ev["lastTimestamp"] = now
            idx.move_to_end(key)
            return store.replace("events", ev, check_version=False)
        del idx[key]
    involved: dict[str, Any] = {
        "kind": involved_obj.get("kind"),
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": uid,
        "apiVersion": involved_obj.get("apiVersion"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    if not meta.get("namespace"):
        involved.pop("namespace")
    if field_path:
        involved["fieldPath"] = field_path
    source: dict[str, str] = {"component": component}
    if host:
        source["host"] = host
    event = {
        "metadata": {"name": f"{meta.get('name')}.{time.time_ns():x}", "namespace": namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": type_,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host or "",
    }
    if action is not None:
        event.update({"source": {}, "firstTimestamp": None, "lastTimestamp": None, "count": None,
                      "eventTime": ctx.clock.micro_timestamp(), "action": action,
                      "reportingInstance": f"{component}-{host or 'sandbox'}"})
    try:
        created = store.create("events", event)
    except ApiError:  # namespace deleted meanwhile, or a name clash within the same nanosecond
        return None
    idx[key] = (namespace, created["metadata"]["name"])
    while len(idx) > MAX_EVENTS:
        _, (ns, name) = idx.popitem(last=False)
        if store.try_get("events", ns, name) is not None:
            store.delete("events", ns, name)
    return created
