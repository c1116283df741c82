"""``--state-dir``: the cluster kept across restarts, as etcd keeps a real one.

``state.json`` holds every stored object, the resourceVersion counter, the watch history (so a watch
that was in the window before the restart resumes after it without a 410), the container logs, the
active faults and the ports the sandbox listened on. It is written atomically (a temporary file,
fsync, rename), every ``state_interval`` seconds when something changed, and at shutdown.

A restart then looks to clients like an API server restart: the same objects and versions, versions
go on from where they were, watches resume from a version still in the restored history (410 for
older ones). A state written periodically but never at shutdown (the sandbox was killed) may lack the
last changes, so versions then jump past anything handed out before and every earlier watch gets 410:
clients list again, as after an etcd restore.

Objects are never mutated once stored, so a snapshot is a list of references taken on the loop and
serialized in a worker thread, one object at a time (the GIL is released between them and the API
keeps answering). An object the history and the store share is written once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .context import SandboxContext
from .store import Obj
from .watchers import WatchEvent

log = logging.getLogger(__name__)

FORMAT = "llmctl-sandbox-state/1"
STATE_FILE = "state.json"
LOCK_FILE = "lock"
_FAULTS_SAVED = "faults.saved-images"  # faults.py's ctx.extras key
_EVENTS_INDEX = "events.index"  # controllers/events.py's ctx.extras key


class StateError(Exception):
    """The state directory cannot be used (unreadable state, or another sandbox holds it)."""


@dataclass
class Snapshot:
    """What a state write needs, captured on the loop (references and small copies)."""

    rv: int
    compacted_rv: int
    objects: list[Obj]  # every distinct object, once
    store: dict[str, list[int]]  # plural → indexes into objects
    history: list[tuple[int, str, str, int, int | None, int, int]]  # rv, plural, type, obj, old, sizes
    logs: dict[str, Any]
    faults: dict[str, str]
    saved_images: list[list[Any]]
    events_index: list[list[Any]]
    ports: dict[str, int]
    registry_host: str
    clean: bool


@dataclass
class SavedState:
    """A state file read back."""

    rv: int
    compacted_rv: int
    objects: dict[str, list[Obj]]
    history: list[WatchEvent]
    logs: dict[str, Any]
    faults: dict[str, str]
    saved_images: list[tuple[Any, ...]]
    events_index: list[tuple[tuple[Any, ...], tuple[str, str]]]
    ports: dict[str, int]
    registry_host: str
    clean: bool
    saved_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def capture(ctx: SandboxContext, ports: dict[str, int], clean: bool = False) -> Snapshot:
    """Take a snapshot of ``ctx`` (call on the sandbox loop)."""
    rv, compacted, by_plural, history = ctx.store.snapshot()
    objects: list[Obj] = []
    index: dict[int, int] = {}

    def ref(obj: Obj) -> int:
        at = index.get(id(obj))
        if at is None:
            at = index[id(obj)] = len(objects)
            objects.append(obj)
        return at

    store = {plural: [ref(o) for o in items] for plural, items in by_plural.items()}
    events = [(ev.rv, ev.plural, ev.type, ref(ev.obj), ref(ev.old) if ev.old is not None else None, ev.obj_size,
               ev.size) for ev in history]
    idx = ctx.extras.get(_EVENTS_INDEX) or {}
    return Snapshot(
        rv=rv, compacted_rv=compacted, objects=objects, store=store, history=events, logs=ctx.logs.dump(),
        faults=dict(ctx.faults.active), saved_images=[list(s) for s in ctx.extras.get(_FAULTS_SAVED, [])],
        events_index=[[list(k), list(v)] for k, v in idx.items()], ports=dict(ports),
        registry_host=ctx.catalog.registry_host, clean=clean,
    )


def _write_list(out: IO[str], items: list[Any]) -> None:
    out.write("[")
    for i, item in enumerate(items):
        if i:
            out.write(",\n")
        out.write(json.dumps(item, separators=(",", ":")))
    out.write("]")


def write_state(directory: Path, snap: Snapshot) -> Path:
    """Write ``snap`` to ``directory/state.json`` atomically (safe to run in a worker thread)."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / STATE_FILE
    tmp = directory / f".{STATE_FILE}.{os.getpid()}.tmp"
    head = {"format": FORMAT, "savedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "clean": snap.clean,
            "resourceVersion": snap.rv, "compactedResourceVersion": snap.compacted_rv, "ports": snap.ports,
            "registryHost": snap.registry_host,
            "faults": snap.faults, "savedImages": snap.saved_images, "eventsIndex": snap.events_index,
            "store": snap.store, "history": snap.history}
    try:
        with open(tmp, "w", encoding="ascii") as out:
            text = json.dumps(head, separators=(",", ":"))
            out.write(text[:-1] + ',\n"logs":' + json.dumps(snap.logs, separators=(",", ":")) + ',\n"objects":')
            _write_list(out, snap.objects)
            out.write("}\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    with contextlib.suppress(OSError):  # the rename itself is durable once the directory is synced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return final


def read_state(directory: Path) -> SavedState | None:
    """The state in ``directory`` (None when there is none yet); StateError when it cannot be used."""
    path = directory / STATE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a sandbox state file ({FORMAT})")
        objects: list[Obj] = data["objects"]
        by_plural = {plural: [objects[i] for i in idxs] for plural, idxs in data["store"].items()}
        history = [WatchEvent(rv, plural, type_, objects[o], objects[old] if old is not None else None, size, total)
                   for rv, plural, type_, o, old, size, total in data["history"]]
        return SavedState(
            rv=int(data["resourceVersion"]), compacted_rv=int(data["compactedResourceVersion"]),
            objects=by_plural, history=history, logs=data.get("logs") or {}, faults=dict(data.get("faults") or {}),
            saved_images=[tuple(s) for s in data.get("savedImages") or []],
            events_index=[(tuple(k), (v[0], v[1])) for k, v in data.get("eventsIndex") or []],
            ports={k: int(v) for k, v in (data.get("ports") or {}).items()},
            registry_host=str(data.get("registryHost") or ""), clean=bool(data.get("clean")),
            saved_at=str(data.get("savedAt") or ""),
        )
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise StateError(f"{path} is not a usable sandbox state ({e}); move it away to start a fresh cluster"
                         ) from None


def apply_state(ctx: SandboxContext, saved: SavedState) -> None:
    """Load ``saved`` into a fresh context (before controllers and the simulation start)."""
    rv, compacted, history = saved.rv, saved.compacted_rv, saved.history
    if not saved.clean:
        # Killed after the last periodic write: changes made since then are lost, and clients may hold
        # versions that were never saved. Go on past any of them, and make every older watch relist.
        rv = max(rv, int(time.time() * 1000)) + 1
        compacted, history = rv, []
    ctx.store.restore(rv, compacted, saved.objects, history)
    if saved.registry_host and saved.registry_host != ctx.catalog.registry_host:
        ctx.catalog.aliases = (*ctx.catalog.aliases, saved.registry_host)
    ctx.logs.load(saved.logs)
    ctx.faults.active.update(saved.faults)
    if saved.saved_images:
        ctx.extras[_FAULTS_SAVED] = list(saved.saved_images)
    if saved.events_index:
        ctx.extras[_EVENTS_INDEX] = OrderedDict(saved.events_index)


class StateDir:
    """A state directory held by one running sandbox: the lock, the periodic writer, the last write."""

    def __init__(self, directory: Path, interval: float) -> None:
        self.directory = Path(directory)
        self.interval = interval
        self.path = self.directory / STATE_FILE
        self._lock: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._written: tuple[Any, ...] | None = None
        self._writing = asyncio.Lock()

    def lock(self) -> None:
        """Hold the directory for this process; StateError if another sandbox holds it."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StateError(f"cannot use state directory {self.directory}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(f"state directory {self.directory} is in use by another sandbox") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock = fd

    def unlock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                os.close(self._lock)
            self._lock = None

    @staticmethod
    def _mark(ctx: SandboxContext) -> tuple[Any, ...]:
        return (ctx.store.resource_version, ctx.logs.version, tuple(sorted(ctx.faults.active.items())))

    async def save(self, ctx: SandboxContext, ports: dict[str, int], clean: bool = False) -> None:
        """Write the state now (in a worker thread), unless nothing changed since the last write."""
        async with self._writing:
            mark = self._mark(ctx)
            if mark == self._written and not clean:
                return
            snap = capture(ctx, ports, clean)
            await asyncio.get_running_loop().run_in_executor(None, write_state, self.directory, snap)
            self._written = mark

    def start(self, ctx: SandboxContext, ports: dict[str, int], restored: bool) -> None:
        """Write every ``interval`` seconds from now on (a cluster just built is written at the first tick;
        one just restored only once it changes)."""
        self._written = self._mark(ctx) if restored else None

        async def periodically() -> None:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    await self.save(ctx, ports)
                except OSError as e:  # a full disk must not take the API down
                    log.error("sandbox: cannot write the state to %s: %s", self.path, e)

        self._task = asyncio.get_running_loop().create_task(periodically(), name="sandbox-state")

    async def stop(self, ctx: SandboxContext | None, ports: dict[str, int]) -> None:
        """Stop the periodic writer and write a final, clean state."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            if ctx is not None:
                await self.save(ctx, ports, clean=True)
        finally:
            self.unlock()
