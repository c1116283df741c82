"""Image builds: the ``BuildService`` protocol and its Docker Engine adapter (docker SDK, classic builder).

Why this shape:
- ``docker`` is imported lazily (only when a build, push or inspect happens), so the console's first
  frame never pays for it.
- Every call has a timeout: short calls (ping, inspect, history, list) ``CALL_TIMEOUT``; the build and
  push streams ``STREAM_TIMEOUT`` of *silence* (a quiet ``pip install`` that compiles for minutes is normal).
- A build streams typed events (``builds_parse``) and can be cancelled from another thread: cancelling
  shuts the build's own connection, and the engine stops the build and removes its container.
- Layers come from the image's history and sizes from its metadata — the image is never unpacked, so a
  multi-GB image costs the same as a small one (dive's complaint).
- Engine failures become ``BuildServiceError``s with the engine's own message; an unreachable engine
  says where we looked and how to point ``DOCKER_HOST``.
- Registry credentials are docker-py's own resolution (``docker.auth``: the Docker config's ``auths``,
  ``credsStore`` and ``credHelpers``, running ``docker-credential-*`` helpers), through the one resolver
  console/compat/credentials.py that the registry lookups use too: a push resolves its registry's credentials
  first (a missing or failing helper is a clear PushFailed before anything is sent), a build sends them all
  (as ``docker build`` does) for the bases it pulls. Never printed or logged.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from console.builds.lint import lint_image_size, split_reference
from console.builds.model import (
    BuildCancelled,
    BuildEvent,
    BuildFailed,
    BuildRequest,
    BuildServiceError,
    BuildSucceeded,
    DockerUnavailable,
    ImageInfo,
    ImageNotFound,
    ImageSummary,
    Layer,
    LayerProgress,
    PushEvent,
    PushFailed,
    PushFinished,
    StageSummary,
)
from console.builds.parse import BuildStreamParser, parse_dockerfile
from console.compat.credentials import CredentialError, DockerCredentials, helper_failure
from console.core.images import DOCKER_HUB, ImageRefError, parse_image

DEFAULT_HOST = "unix:///var/run/docker.sock"
CALL_TIMEOUT = 10.0
STREAM_TIMEOUT = 1800.0
HOW_TO_POINT = ("Start the engine (dockerd), or point llmctl at one: DOCKER_HOST=unix:///path/to/docker.sock "
                "or DOCKER_HOST=tcp://HOST:2376 (with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH), or --docker-host URL")


class BuildRun(Protocol):
    """One build in progress: iterate for its events (the last is the outcome); ``cancel`` from any thread."""

    def __iter__(self) -> Iterator[BuildEvent]: ...

    def cancel(self) -> None: ...


class BuildService(Protocol):
    """What the Builds screen and ``llmctl build`` need from an image builder."""

    host: str

    def version(self) -> str: ...

    def start_build(self, request: BuildRequest, size_limit: int | None = None) -> BuildRun: ...

    def push(self, reference: str) -> Iterator[PushEvent]: ...

    def inspect(self, reference: str) -> ImageInfo: ...

    def images(self, limit: int = 20) -> list[ImageSummary]: ...

    def close(self) -> None: ...


def resolve_host(host: str | None = None) -> str:
    """Where the engine is: the flag/setting, else ``DOCKER_HOST``, else the default local socket."""
    return host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _reason(exc: BaseException) -> str:
    """A short cause for a failed connection, from the exception chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FileNotFoundError):
            return "no socket there"
        if isinstance(seen, PermissionError):
            return "permission denied on the socket (join the docker group, or run with sudo)"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, TimeoutError | socket.timeout):
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    for marker in ("Connection refused", "No such file or directory", "timed out", "Permission denied"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(exc).__name__


class DockerBuildService:
    """The Docker Engine adapter. Nothing connects until the first call."""

    def __init__(self, host: str | None = None, timeout: float = CALL_TIMEOUT,
                 stream_timeout: float = STREAM_TIMEOUT) -> None:
        self.host = resolve_host(host)
        self._explicit = host is not None
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self._api: Any = None
        self._api_version: str | None = None
        self._lock = threading.Lock()

    # ---- connection -------------------------------------------------------------------------------------
    def unreachable(self, exc: BaseException) -> DockerUnavailable:
        return DockerUnavailable(f"cannot reach the Docker Engine at {self.host}: {_reason(exc)}. {HOW_TO_POINT}")

    def _client(self, timeout: float, cls: Any = None) -> Any:
        import docker
        from docker.utils import kwargs_from_env

        kwargs: dict[str, Any] = {} if self._explicit else kwargs_from_env()
        kwargs["base_url"] = self.host
        try:
            return (cls or docker.APIClient)(timeout=timeout, version=self._api_version or "auto", **kwargs)
        except (docker.errors.InvalidConfigFile, ValueError) as exc:  # docker-py reads the Docker config first
            raise BuildServiceError(docker_config_problem(exc)) from None
        except docker.errors.DockerException as exc:
            raise self.unreachable(exc) from None

    def api(self) -> Any:
        """The shared client for short calls (created, and the API version agreed, on first use)."""
        with self._lock:
            if self._api is None:
                self._api = self._client(self.timeout)
                self._api_version = self._api.api_version
            return self._api

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import docker
        import requests

        try:
            return fn(*args, **kwargs)
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(f"{what}: no such image on the engine at {self.host}") from exc
        except docker.errors.APIError as exc:
            raise BuildServiceError(f"{what}: {exc.explanation or exc}") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise self.unreachable(exc) from None

    def version(self) -> str:
        """The engine's version and API version ("20.10.24 (API 1.41)"); raises DockerUnavailable."""
        api = self.api()
        info = self._call("version", api.version)
        return f"{info.get('Version', '?')} (API {info.get('ApiVersion', '?')})"

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                self._api.close()
                self._api = None

    # ---- build ------------------------------------------------------------------------------------------
    def start_build(self, request: BuildRequest, size_limit: int | None = None) -> DockerBuildRun:
        """A build, not started until iterated. ``size_limit`` (bytes) adds the image-too-large rule."""
        return DockerBuildRun(self, request, size_limit)

    def stream_client(self) -> Any:
        """A client of its own for one long stream, whose connection can be shut to cancel it."""
        import docker

        class StreamClient(docker.APIClient):  # type: ignore[misc]
            response: Any = None

            def _stream_helper(self, response: Any, decode: bool = False) -> Any:
                self.response = response
                return super()._stream_helper(response, decode)

        self.api()  # agree the API version once, on the shared client
        return self._client(self.stream_timeout, StreamClient)

    # ---- images -----------------------------------------------------------------------------------------
    def inspect(self, reference: str) -> ImageInfo:
        """Size, layers (history), env, labels of an image — metadata only."""
        api = self.api()
        attrs = self._call(reference, api.inspect_image, reference)
        history = self._call(reference, api.history, reference)
        return image_info(reference, attrs, history)

    def images(self, limit: int = 20) -> list[ImageSummary]:
        """Recent tagged local images, newest first."""
        rows = self._call("list images", self.api().images)
        out = [ImageSummary(tag, str(r.get("Id", "")), int(r.get("Size") or 0), int(r.get("Created") or 0))
               for r in rows for tag in (r.get("RepoTags") or []) if tag and tag != "<none>:<none>"]
        return sorted(out, key=lambda i: -i.created)[:limit]

    def tag(self, image_id: str, reference: str) -> None:
        repo, tag = split_reference(reference)
        self._call(f"tag {reference}", self.api().tag, image_id, repo, tag or "latest")

    def push(self, reference: str) -> Iterator[PushEvent]:
        """Push with per-layer progress. Credentials come from the Docker config (``docker login``, credential
        helpers) through docker-py's resolution and are never printed; errors become a PushFailed with a hint."""
        import docker
        import requests

        repo, tag = split_reference(reference)
        registry = registry_of(repo)
        try:
            auth, source = DockerCredentials().lookup(registry)
        except CredentialError as exc:
            yield PushFailed(reference, f"cannot read the credentials for registry {registry}: {exc}")
            return
        client = self.stream_client()
        start = time.monotonic()
        layers: dict[str, LayerProgress] = {}
        try:
            # An explicit (possibly empty) auth config: what was resolved above is exactly what is sent.
            for chunk in client.push(repo, tag=tag or "latest", stream=True, decode=True, auth_config=auth or {}):
                if chunk.get("error") or chunk.get("errorDetail"):
                    message = str(chunk.get("error") or chunk["errorDetail"].get("message", ""))
                    yield PushFailed(reference, push_hint(message, repo, source if auth else None))
                    return
                aux = chunk.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    yield PushFinished(reference, str(aux["Digest"]), int(aux.get("Size") or 0),
                                       round(time.monotonic() - start, 3), tuple(layers.values()))
                    return
                if chunk.get("id") and chunk.get("status"):
                    detail = chunk.get("progressDetail") or {}
                    progress = LayerProgress(str(chunk["id"]), str(chunk["status"]), int(detail.get("current") or 0),
                                             int(detail.get("total") or 0))
                    layers[progress.layer] = progress
                    yield progress
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            yield PushFailed(reference, f"the engine stopped answering during the push: {_reason(exc)}")
            return
        except docker.errors.APIError as exc:
            yield PushFailed(reference, push_hint(str(exc.explanation or exc), repo, source if auth else None))
            return
        finally:
            client.close()
        yield PushFailed(reference, "the engine ended the push without a digest")


def docker_config_problem(exc: BaseException) -> str:
    """Why docker-py would not start over the Docker config (never with what the entries hold)."""
    creds = DockerCredentials()
    bad = creds.broken_entries()
    if bad:
        return (f"the Docker config {creds.where()} has auths entries that cannot be decoded ({', '.join(bad)}): "
                "log in to them again (docker login) or remove them")
    return f"the Docker config {creds.where()} cannot be read: {type(exc).__name__}"


def registry_of(repo: str) -> str:
    """The registry host of a repository as Docker reads it (``docker.io`` for Docker Hub names)."""
    try:
        return parse_image(repo).registry
    except ImageRefError:
        first = repo.split("/", 1)[0]
        return first if "/" in repo and ("." in first or ":" in first or first == "localhost") else DOCKER_HUB


def push_hint(message: str, repo: str, source: str | None = None) -> str:
    """The engine's push error, with what to do about it (``source``: where the credentials sent came from)."""
    registry = registry_of(repo)
    low = message.lower()
    if "unauthorized" in low or "denied" in low or "authentication required" in low or "no basic auth" in low:
        if source:
            return f"{message} — the registry refused the credentials from {source} (docker login {registry})"
        return (f"{message} — log in first (docker login {registry}); llmctl uses the Docker config's credentials "
                "(auths, credsStore, credHelpers)")
    if "connection refused" in low or "no such host" in low or "i/o timeout" in low:
        return f"{message} — is the registry {registry} up and reachable from the engine?"
    if "does not exist locally" in low:
        return f"{message} — build or tag the image first"
    return message


def image_info(reference: str, attrs: dict[str, Any], history: list[dict[str, Any]]) -> ImageInfo:
    """An ImageInfo from the engine's inspect and history answers."""
    config = attrs.get("Config") or {}
    env = tuple(tuple(e.split("=", 1)) if "=" in e else (e, "") for e in (config.get("Env") or []))
    layers = tuple(Layer(str(h.get("Id", "")), int(h.get("Size") or 0), str(h.get("CreatedBy") or ""),
                         int(h.get("Created") or 0)) for h in history)
    return ImageInfo(
        reference=reference, id=str(attrs.get("Id", "")), size=int(attrs.get("Size") or 0),
        created=str(attrs.get("Created", "")), tags=tuple(attrs.get("RepoTags") or ()), layers=layers,
        env=env,  # type: ignore[arg-type]
        labels=tuple(sorted((config.get("Labels") or {}).items())), user=str(config.get("User") or ""),
        volumes=tuple(sorted(config.get("Volumes") or {})), architecture=str(attrs.get("Architecture", "")))


class DockerBuildRun:
    """One build on the engine: iterate for typed events; ``cancel()`` from any thread stops it cleanly."""

    def __init__(self, service: DockerBuildService, request: BuildRequest, size_limit: int | None) -> None:
        self.service = service
        self.request = request
        self.size_limit = size_limit
        self._cancelled = threading.Event()
        self._client: Any = None

    def cancel(self) -> None:
        """Stop the build: shut its connection (the engine then aborts the step and removes its container)."""
        self._cancelled.set()
        response = getattr(self._client, "response", None)
        conn = getattr(getattr(response, "raw", None), "connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def __iter__(self) -> Iterator[BuildEvent]:
        import docker
        import requests
        import urllib3

        parser = BuildStreamParser()
        req = self.request
        if self.cancelled:
            yield BuildCancelled(None, 0.0)
            return
        try:
            DockerCredentials().check_build_helpers()
        except CredentialError as exc:
            yield BuildFailed(f"cannot read the registry credentials the build sends: {exc}")
            return
        self._client = self.service.stream_client()
        try:
            stream = self._client.build(
                path=req.context, dockerfile=req.dockerfile, tag=req.tags[0] if req.tags else None,
                target=req.target or None, buildargs=dict(req.build_args) or None, nocache=req.no_cache,
                rm=True, forcerm=True, decode=True, timeout=self.service.stream_timeout)
            for chunk in stream:
                yield from parser.feed(chunk)
                if parser.failed is not None or self.cancelled:
                    break
        except docker.errors.APIError as exc:  # refused before any step: a broken Dockerfile, an unknown target
            yield BuildFailed(str(exc.explanation or exc), seconds=round(parser.elapsed, 3))
            return
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, urllib3.exceptions.HTTPError,
                OSError) as exc:
            if not self.cancelled:
                yield BuildFailed(f"lost the engine during the build: {_reason(exc)}", parser.current_step,
                                  seconds=round(parser.elapsed, 3), steps=tuple(parser.steps))
                return
        except (TypeError, docker.errors.DockerException) as exc:  # e.g. a context path that does not exist
            text = str(exc)
            if text.startswith("Credentials store error"):  # a helper failed while docker-py gathered credentials
                text = f"cannot read the registry credentials the build sends: {helper_failure(None, exc)}"
            yield BuildFailed(text, seconds=round(parser.elapsed, 3))
            return
        finally:
            self._client.close()
        if self.cancelled:
            yield BuildCancelled(parser.current_step, round(parser.elapsed, 3), tuple(parser.steps))
            return
        if parser.failed is not None:
            return
        yield from parser.finish()
        yield self._succeeded(parser)

    def _succeeded(self, parser: BuildStreamParser) -> BuildEvent:
        req = self.request
        image_id = parser.image_id
        if not image_id:
            return BuildFailed("the engine ended the build without an image ID", seconds=round(parser.elapsed, 3),
                               steps=tuple(parser.steps))
        for extra in req.tags[1:]:
            self.service.tag(image_id, extra)
        image = None
        try:
            image = self.service.inspect(req.tags[0] if req.tags else image_id)
        except BuildServiceError:
            pass
        findings = tuple(lint_image_size(image, self.size_limit)) if image else ()
        return BuildSucceeded(image_id, req.tags, round(parser.elapsed, 3), self._stages(parser), tuple(parser.steps),
                              image, findings)

    def _stages(self, parser: BuildStreamParser) -> tuple[StageSummary, ...]:
        """The stages as built, with their FROM resolved from the Dockerfile's ARGs and the build args."""
        stages = parser.stages()
        try:
            df = parse_dockerfile((Path(self.request.context) / self.request.dockerfile).read_text(errors="replace"))
        except OSError:
            return stages
        bases = {s.index: df.resolved_base(s, dict(self.request.build_args)) for s in df.stages}
        return tuple(replace(s, base=bases.get(s.index, s.base)) for s in stages)


def created_text(created: str | int) -> str:
    """An engine timestamp (RFC 3339 with nanoseconds, or unix seconds) as 'YYYY-MM-DD HH:MM'."""
    if isinstance(created, int):
        return datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M")
    return created[:16].replace("T", " ")
