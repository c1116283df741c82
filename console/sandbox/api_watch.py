"""Long-lived responses: watch streams (newline-delimited JSON events) and ``pods/log?follow=true``.

Both wait on asyncio primitives (the watcher's queue, the log's waiter), never poll the store, and
wake at most once a second to notice a client that went away: aiohttp does not cancel a handler when
its client disconnects, and a forgotten watcher would receive every event of the store forever.
On server shutdown every open stream is woken and ends, so a runner's cleanup is not held up.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .api_validate import FieldError, invalid_error
from .context import SandboxContext
from .conversion import field_selector, to_served
from .errors import ApiError, bad_request
from .resources import ResourceType
from .table import table
from .watchers import STOP

TICK = 1.0  # seconds between checks for a vanished client
BATCH = 500  # events per write when a queue holds many (initial ADDED of a large list)
BATCH_BYTES = 1024 * 1024  # ... and at most about this many bytes
STREAMS: web.AppKey[set[Callable[[], None]]] = web.AppKey("sandbox_streams", set)


async def close_streams(app: web.Application) -> None:
    """``on_shutdown`` hook: wake every open stream so it ends now."""
    for wake in list(app.get(STREAMS, ())):
        wake()


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def parse_resource_version(value: str | None) -> int | None:
    """A watch's ``resourceVersion``: None for "start with the current state" ("" or "0")."""
    if not value or value == "0":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid resourceVersion {value!r}") from None


NOT_OLDER_THAN = "NotOlderThan"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def send_initial_events(query: Any) -> bool | None:
    """``sendInitialEvents``: None when absent; a value other than true/false is the decoder's 400."""
    value = query.get("sendInitialEvents")
    if value is None:
        return None
    if value.lower() not in ("true", "false", "1", "0"):
        raise bad_request(f'sendInitialEvents: invalid value "{value}": strconv.ParseBool: parsing "{value}": '
                          "invalid syntax")
    return value.lower() in ("true", "1")


def validate_list_options(query: Any, watch: bool) -> None:
    """apimachinery's ``ValidateListOptions`` with the WatchList feature on: a bad combination of
    ``resourceVersion``, ``resourceVersionMatch``, ``sendInitialEvents`` and ``continue`` is a 422."""
    match, rv, cont = query.get("resourceVersionMatch") or "", query.get("resourceVersion") or "", query.get("continue")
    initial = send_initial_events(query)
    errors: list[FieldError] = []
    if watch:
        if initial is not None and match != NOT_OLDER_THAN:
            errors.append(FieldError("resourceVersionMatch", "Forbidden", None,
                                     f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}"))
        if match:
            if initial is None:
                errors.append(FieldError("resourceVersionMatch", "Forbidden", None,
                                         "resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                                         "provided"))
            if match != NOT_OLDER_THAN:
                errors.append(FieldError("resourceVersionMatch", "NotSupported", match,
                                         f'supported values: "{NOT_OLDER_THAN}"'))
            if cont:
                errors.append(FieldError("resourceVersionMatch", "Forbidden", None,
                                         "resourceVersionMatch is forbidden when continue is provided"))
    else:
        if match:
            if not rv:
                errors.append(FieldError("resourceVersionMatch", "Forbidden", None,
                                         "resourceVersionMatch is forbidden unless resourceVersion is provided"))
            if cont:
                errors.append(FieldError("resourceVersionMatch", "Forbidden", None,
                                         "resourceVersionMatch is forbidden when continue is provided"))
            if match not in ("Exact", NOT_OLDER_THAN):
                errors.append(FieldError("resourceVersionMatch", "NotSupported", match,
                                         'supported values: "Exact", "NotOlderThan", ""'))
            if match == "Exact" and rv == "0":
                errors.append(FieldError("resourceVersionMatch", "Forbidden", None,
                                         'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
        if initial is not None:
            errors.append(FieldError("sendInitialEvents", "Forbidden", None, "sendInitialEvents is forbidden for list"))
    if errors:
        raise invalid_error("ListOptions", "meta.k8s.io", "", errors)


def too_large_resource_version(wanted: int, current: int) -> ApiError:
    """What the watch cache answers when asked for a version it has not reached (after waiting)."""
    err = ApiError(504, "Timeout", f"Timeout: Too large resource version: {wanted}, current: {current}",
                   causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}])
    err.details["retryAfterSeconds"] = 1
    return err


def _gone() -> web.Response:
    """What a stream's handler returns when its client left before the stream began (nobody reads it; a handler
    must return a response, or aiohttp logs an error with a traceback)."""
    return web.Response(status=499, text="client closed the request")


async def _start_stream(request: web.Request, content_type: str) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": content_type,
                                                   "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    return resp


async def serve_watch(request: web.Request, ctx: SandboxContext, rt: ResourceType, namespace: str | None,
                      table_include: str | None) -> web.StreamResponse:
    """``GET <list path>?watch=true``; ``table_include`` set when the client asked for Table events."""
    q = request.query
    since = parse_resource_version(q.get("resourceVersion"))
    initial = send_initial_events(q)
    current = ctx.store.resource_version
    if initial is not None:
        # WatchList: with sendInitialEvents=true the state (at least as new as resourceVersion) comes first
        # as ADDED events, then a bookmark marks its end; with false, only what happens from now (or from
        # the given version) on.
        if since is not None and since > current:
            raise too_large_resource_version(since, current)
        if initial:
            since = None
        elif since is None:
            since = current
    try:
        timeout = int(q["timeoutSeconds"]) if q.get("timeoutSeconds") else None
    except ValueError:
        raise bad_request(f"invalid timeoutSeconds {q['timeoutSeconds']!r}: must be an integer") from None
    bookmarks = _truthy(q.get("allowWatchBookmarks"))
    try:
        watcher = ctx.store.watch(rt.plural, namespace, since, q.get("labelSelector"),
                                  field_selector(rt, q.get("fieldSelector")))
        # The initial ADDED events were queued just now, synchronously: the end-of-list bookmark follows them.
        initial_left = watcher.queue.qsize() if initial and bookmarks else None
    except ApiError as e:
        if e.code != 410:
            raise
        # What kube-apiserver does for a compacted version: 200, then one ERROR event carrying the Status.
        resp = await _start_stream(request, "application/json")
        await resp.write(json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n")
        await resp.write_eof()
        return resp

    def encode(event: dict[str, Any]) -> bytes:
        if table_include is not None:
            event = {"type": event["type"], "object": table(rt.plural, [event["object"]], include=table_include)}
        elif rt.is_view:  # another version of the stored resource (autoscaling/v1, events.k8s.io/v1)
            event = {"type": event["type"], "object": to_served(rt, event["object"])}
        return json.dumps(event, separators=(",", ":")).encode() + b"\n"

    def bookmark(rv: int | None = None, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": str(ctx.store.resource_version if rv is None else rv)}
        if initial_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}
        return json.dumps({"type": "BOOKMARK", "object": obj}).encode() + b"\n"

    streams = request.app.get(STREAMS)
    wake = watcher.stop
    if streams is not None:
        streams.add(wake)
    resp: web.StreamResponse | None = None
    writing = False

    def overflowed() -> None:
        # The store closed this watcher: the client fell a whole history behind. A stream stuck writing to a
        # client that does not read is cut (the transport's buffer and this handler are let go); one that
        # is not stuck ends cleanly at the STOP in its queue. Either way the client re-watches.
        transport = request.transport
        if writing and transport is not None:
            transport.abort()

    async def send(data: bytes) -> None:
        nonlocal writing
        writing = True
        try:
            await resp.write(data)  # type: ignore[union-attr]
        finally:
            writing = False

    watcher.on_overflow = overflowed
    try:
        resp = await _start_stream(request, "application/json")
        now = time.monotonic()
        deadline = now + timeout if timeout else None
        interval = ctx.config.bookmark_interval
        next_bookmark = now + interval if bookmarks else None
        stopping = False
        while not stopping:
            chunk: list[bytes] = []
            size = 0
            while not watcher.empty() and len(chunk) < BATCH and size < BATCH_BYTES and initial_left != 0:
                event = watcher.get_nowait()
                if event is STOP:
                    stopping = True
                    break
                chunk.append(encode(event))
                size += len(chunk[-1])
                if initial_left is not None:
                    initial_left -= 1
            if initial_left == 0 and not stopping:
                chunk.append(bookmark(current, initial_end=True))
                initial_left = None
            if chunk:
                await send(b"".join(chunk))
                continue
            if stopping or _client_gone(request):
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if next_bookmark is not None and now >= next_bookmark:
                await send(bookmark())  # queue is empty: every event up to this version was sent
                next_bookmark = now + interval
                continue
            wait = min(t for t in (TICK, deadline and deadline - now, next_bookmark and next_bookmark - now)
                       if t is not None)
            try:
                event = await asyncio.wait_for(watcher.get(), max(wait, 0.0))
            except TimeoutError:
                continue
            if event is STOP:
                break
            await send(encode(event))
        await resp.write_eof()
    except ConnectionError:
        pass  # the client went away mid-write or before the stream began (or the stream was cut: see overflowed)
    finally:
        watcher.on_overflow = None
        ctx.store.stop_watch(watcher)
        if streams is not None:
            streams.discard(wake)
    return resp if resp is not None else _gone()


# ---- pods/{name}/log --------------------------------------------------------------------------------
def _pick_container(pod: dict[str, Any], wanted: str | None) -> str:
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    if wanted:
        if wanted not in names:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        return wanted
    main = [c.get("name") for c in spec.get("containers") or []]
    if len(main) == 1:
        return str(main[0])
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(main)}]")


def _waiting_reason(pod: dict[str, Any], container: str) -> str | None:
    """Why a container has no log yet ("ContainerCreating"...), or None if it has started."""
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            state = cs.get("state") or {}
            if "waiting" in state and not cs.get("lastState", {}).get("terminated"):
                return (state["waiting"] or {}).get("reason") or "ContainerCreating"
            return None
    return "ContainerCreating"


def _text(lines: list[str]) -> bytes:
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).encode()


async def serve_logs(request: web.Request, ctx: SandboxContext, namespace: str, name: str) -> web.StreamResponse:
    """``GET /api/v1/namespaces/<ns>/pods/<name>/log`` with container, tailLines, previous, follow."""
    q = request.query
    pod = ctx.store.get("pods", namespace, name)
    container = _pick_container(pod, q.get("container"))
    previous = _truthy(q.get("previous"))
    lines = ctx.logs.lines(namespace, name, container, previous=previous)
    if not lines:
        if previous:
            raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        reason = _waiting_reason(pod, container)
        if reason:
            raise bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    if q.get("tailLines"):
        try:
            tail = int(q["tailLines"])
        except ValueError:
            raise bad_request("tailLines must be an integer") from None
        lines = lines[-tail:] if tail > 0 else []
    if previous or not _truthy(q.get("follow")):
        return web.Response(body=_text(lines), content_type="text/plain", charset="utf-8")
    return await _follow(request, ctx, namespace, name, container, lines)


async def _follow(request: web.Request, ctx: SandboxContext, namespace: str, name: str, container: str,
                  first: list[str]) -> web.StreamResponse:
    cursor = ctx.logs.cursor(namespace, name, container)
    uid = ctx.store.get("pods", namespace, name)["metadata"]["uid"]
    waiter = ctx.logs.waiter(namespace, name, container)
    stopped = False

    def wake() -> None:
        nonlocal stopped
        stopped = True
        waiter.set()

    streams = request.app.get(STREAMS)
    if streams is not None:
        streams.add(wake)
    resp: web.StreamResponse | None = None
    try:
        resp = await _start_stream(request, "text/plain; charset=utf-8")
        if first:
            await resp.write(_text(first))
        while not stopped and not _client_gone(request):
            try:
                await asyncio.wait_for(waiter.wait(), TICK)
            except TimeoutError:
                pass
            pod = ctx.store.try_get("pods", namespace, name)
            if pod is None or pod["metadata"]["uid"] != uid:
                break  # the pod is gone: the stream ends, as kubectl logs -f does
            if waiter.is_set():
                waiter = ctx.logs.waiter(namespace, name, container)
            new = ctx.logs.lines_since(namespace, name, container, cursor)
            cursor = ctx.logs.cursor(namespace, name, container)
            if new:
                await resp.write(_text(new))
        await resp.write_eof()
    except ConnectionError:
        pass  # the client went away mid-write or before the stream began
    finally:
        if streams is not None:
            streams.discard(wake)
    return resp if resp is not None else _gone()
