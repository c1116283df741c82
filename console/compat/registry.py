"""Image facts without pulling: the image config read through the Registry HTTP API v2 (manifest → config
blob), or from the local Docker Engine (``docker inspect``'s ``Config``); and the images a registry holds
(its catalog and tag lists, for the guided deployment's image picker).

:class:`RegistryClient` is llmctl's one registry client (blocking, over console/http.py; callers run it in
a thread). Manifest lists and OCI indexes pick linux/amd64; schema-2, OCI and schema-1 manifests are read;
the config blob's digest is verified. References are normalised as Docker does (console/core/images.py).
Auth: none, Basic, or Bearer tokens (the token endpoint named by ``WWW-Authenticate``'s realm), with
credentials given explicitly or found as ``docker`` finds them (console/compat/credentials.py: the Docker
config's ``auths``, ``credsStore`` and ``credHelpers``, running ``docker-credential-*`` helpers) — looked up
only when a registry asks for them. Credentials only ever travel in ``Authorization`` headers that are not
forwarded on redirects to another host; no error message, log line or repr contains them. Loopback
registries are spoken to over HTTP (as dockerd treats 127.0.0.0/8 as insecure); others over HTTPS unless
listed as insecure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from console.compat.credentials import Credential, CredentialError, DockerCredentials
from console.compat.facts import ImageFacts, image_facts_from_config, unreadable
from console.core.images import DOCKER_HUB, ImageName, ImageRefError, parse_image
from console.http import HttpClient, HttpError, Response, basic_auth, public_url

HUB_API = "registry-1.docker.io"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_V1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join((MANIFEST_V2, MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX, MANIFEST_V1))
MAX_DOC_BYTES = 4 * 1024 * 1024  # a manifest or config larger than this is not one
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class RegistryError(Exception):
    """Why the image config could not be read; the message is safe to show (never holds credentials)."""


class ImageSource(Protocol):
    def facts(self, ref: str) -> ImageFacts: ...


@dataclass(frozen=True)
class ImageRef(ImageName):
    """A normalised reference (:class:`~console.core.images.ImageName`) with what the registry API needs."""

    @property
    def api_host(self) -> str:
        return api_host(self.registry)

    @property
    def scope(self) -> str:
        """The token scope for reading it."""
        return f"repository:{self.repository}:pull"


def api_host(registry: str) -> str:
    """Where a registry's API answers (Docker Hub's is not docker.io)."""
    return HUB_API if registry == DOCKER_HUB else registry


def parse_reference(ref: str) -> ImageRef:
    """Docker's reference grammar, normalised as Docker does: [host[:port]/]name[:tag][@digest]; Docker Hub
    names get library/ (:func:`console.core.images.parse_image`)."""
    try:
        name = parse_image(ref)
    except ImageRefError as exc:
        raise RegistryError(str(exc)) from None
    return ImageRef(name.registry, name.repository, name.tag, name.digest)


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ``::1``, with or without a port (``[::1]:5000``)."""
    try:
        name = urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return False
    return name == "localhost" or name.startswith("127.") or name == "::1"


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, params = header.strip().partition(" ")
    return scheme.lower(), {k: v for k, v in re.findall(r'(\w+)="([^"]*)"', params)}


def _registry_error(body: bytes) -> tuple[str, str]:
    try:
        first = (json.loads(body).get("errors") or [{}])[0]
        return str(first.get("code") or ""), str(first.get("message") or "")
    except (ValueError, AttributeError, IndexError):
        return "", ""


@dataclass
class RegistryClient:
    """Reads image configs and catalogs over the Registry HTTP API v2 (see the module docstring)."""

    credentials: Mapping[str, tuple[str, str]] | None = field(default=None, repr=False)  # None: the Docker config's
    timeout: float = 5.0
    insecure: Iterable[str] = ()
    docker_config: DockerCredentials | None = field(default=None, repr=False)  # where credentials=None looks
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _found: dict[str, Credential | None] = field(default_factory=dict, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.credentials is None and self.docker_config is None:
            self.docker_config = DockerCredentials()
        self.insecure = frozenset(self.insecure)

    def base(self, registry: str) -> str:
        """The registry API's base URL: HTTP for loopback and insecure registries, else HTTPS."""
        host = api_host(registry)
        plain = is_loopback(host) or registry in self.insecure  # type: ignore[operator]
        return f"{'http' if plain else 'https'}://{host}"

    def _http(self, registry: str) -> HttpClient:
        try:
            return HttpClient(self.base(registry), service=f"registry {registry}", timeout=self.timeout)
        except HttpError:
            raise RegistryError(f"not a registry host: {registry!r}") from None

    def _creds(self, registry: str) -> Credential | None:
        """The credentials for ``registry``: given explicitly, else resolved as docker resolves them (once per
        registry and client; a helper that fails is asked again next time). Raises RegistryError."""
        if self.credentials is not None:
            pair = self.credentials.get(registry)
            return Credential(pair[0], pair[1], "") if pair else None
        assert self.docker_config is not None
        with self._lock:
            if registry not in self._found:
                try:
                    self._found[registry] = self.docker_config.get(registry)
                except CredentialError as exc:
                    raise RegistryError(f"registry {registry} requires authentication and its credentials could "
                                        f"not be read: {exc}") from None
            return self._found[registry]

    def _basic(self, registry: str) -> str | None:
        creds = self._creds(registry)
        if creds is None:
            return None
        if creds.identity_token:
            raise RegistryError(f"the credentials for registry {registry} in {creds.source} are an identity token "
                                f"(OAuth), which llmctl cannot use: log in with a password or an access token "
                                f"(docker login {registry})")
        return basic_auth(creds.username, creds.secret)

    def _token(self, registry: str, params: dict[str, str], scope: str) -> str:
        """A bearer token from the realm ``WWW-Authenticate`` named (with the Basic credentials, if any),
        cached per registry and scope."""
        scope = params.get("scope") or scope
        key = (registry, scope)
        if key not in self._tokens:
            realm = params.get("realm", "")
            if not realm.startswith(("https://", "http://")):
                raise RegistryError(f"registry {registry} asked for a token without a usable realm")
            query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
            try:
                resp = self._http(registry).request("GET", realm, params=query, auth=self._basic(registry),
                                                    max_bytes=MAX_DOC_BYTES)
                doc = resp.json()
            except HttpError as exc:
                if exc.kind == "status" and exc.status in (401, 403):
                    raise RegistryError(self._denied(registry)) from None
                if exc.kind == "status":
                    raise RegistryError(f"token service of registry {registry} answered {exc.status}") from None
                if exc.kind == "timeout":
                    raise RegistryError(f"token service of registry {registry} did not answer within "
                                        f"{self.timeout:g}s") from None
                if exc.kind in ("unreachable", "url"):
                    raise RegistryError(f"cannot reach the token service of registry {registry} at "
                                        f"{public_url(realm)}: {exc.strerror}") from None
                raise RegistryError(f"token service of registry {registry} sent an answer that is not a token") \
                    from None
            token = doc.get("token") or doc.get("access_token") if isinstance(doc, dict) else None
            if not token:
                raise RegistryError(f"token service of registry {registry} sent an answer that is not a token")
            self._tokens[key] = str(token)
        return "Bearer " + self._tokens[key]

    def _denied(self, registry: str) -> str:
        creds = self._creds(registry)
        if creds is None:
            return (f"registry {registry} requires authentication and no credentials are configured for it "
                    f"(docker login {registry})")
        where = f" in {creds.source}" if creds.source else ""
        return f"registry {registry} rejected the credentials configured for it{where} (docker login {registry})"

    def _get(self, registry: str, path: str, accept: str, scope: str, params: Mapping[str, Any] | None = None,
             on_status: Callable[[int, bytes], str] | None = None) -> Response:
        """``GET /v2/{path}`` with the auth the registry asks for; RegistryError with a person-readable reason
        (``on_status``: the message for an answer that is neither 2xx nor 401/403)."""
        http = self._http(registry)
        auth: str | None = None
        for attempt in range(2):
            try:
                return http.request("GET", f"/v2/{path}", params=params, accept=accept, auth=auth,
                                    max_bytes=MAX_DOC_BYTES)
            except HttpError as exc:
                if exc.kind == "status":
                    if exc.status == 401 and attempt == 0:
                        scheme, challenge = _challenge(exc.headers.get("WWW-Authenticate", ""))
                        if scheme == "basic":
                            auth = self._basic(registry)
                            if auth is None:
                                raise RegistryError(self._denied(registry)) from None
                            continue
                        if scheme == "bearer":
                            auth = self._token(registry, challenge, scope)
                            continue
                    if exc.status in (401, 403):
                        raise RegistryError(self._denied(registry)) from None
                    status = exc.status or 0
                    message = on_status(status, exc.body) if on_status else \
                        f"registry {registry} answered {status} for /v2/{path} ({exc.detail or 'no details'})"
                    raise RegistryError(message) from None
                if exc.kind == "timeout":
                    raise RegistryError(f"registry {registry} did not answer within {self.timeout:g}s") from None
                if exc.kind == "too-large":
                    raise RegistryError(f"registry {registry} sent more than {MAX_DOC_BYTES} bytes for "
                                        f"{http.where}/v2/{path}") from None
                if exc.kind == "answer":
                    raise RegistryError(f"registry {registry} sent an answer that is not JSON for /v2/{path}") \
                        from None
                raise RegistryError(f"cannot reach registry {registry} at {http.where}: {exc.strerror}") from None
        raise RegistryError(self._denied(registry))

    def _image_get(self, ref: ImageRef, path: str, accept: str) -> Response:
        return self._get(ref.registry, f"{ref.repository}/{path}", accept, ref.scope,
                         on_status=lambda status, body: self._http_error(ref, status, body))

    @staticmethod
    def _http_error(ref: ImageRef, status: int, body: bytes) -> str:
        code, message = _registry_error(body)
        if code == "NAME_UNKNOWN" or (status == 404 and not code and ref.registry == DOCKER_HUB):
            return f"repository {ref.repository} not found on registry {ref.registry}"
        if code == "MANIFEST_UNKNOWN" or (status == 404 and not code):
            return f"{ref.reference} not found in {ref.repository} on registry {ref.registry}"
        detail = f"{code}: {message}" if code else "no details"
        return f"registry {ref.registry} answered {status} for {ref.repository}:{ref.reference} ({detail})"

    def _json(self, ref: ImageRef, data: bytes, what: str) -> dict[str, Any]:
        try:
            doc = json.loads(data)
        except ValueError:
            raise RegistryError(f"registry {ref.registry} sent a {what} that is not JSON") from None
        if not isinstance(doc, dict):
            raise RegistryError(f"registry {ref.registry} sent a {what} that is not a JSON object")
        return doc

    def _not_found(self, ref: ImageRef, error: RegistryError) -> RegistryError:
        """A 404 on a manifest: is it the repository or the tag? (Registries answer MANIFEST_UNKNOWN for both.)"""
        try:
            tags = self.tags(ref.registry, ref.repository, 200)
        except RegistryError:
            return RegistryError(f"repository {ref.repository} not found on registry {ref.registry}")
        shown = ", ".join(sorted(tags)[:8]) + (", …" if len(tags) > 8 else "")
        return RegistryError(f"{error} (tags: {shown or 'none'})")

    def manifest(self, ref: ImageRef) -> tuple[dict[str, Any], str]:
        """The image manifest (a list/index resolved to linux/amd64) and its media type."""
        try:
            resp = self._image_get(ref, f"manifests/{ref.reference}", ACCEPT)
        except RegistryError as exc:
            if " not found in " in str(exc) and ref.tag and not ref.digest:
                raise self._not_found(ref, exc) from None
            raise
        doc = self._json(ref, resp.body, "manifest")
        media = doc.get("mediaType") or (resp.headers.get("Content-Type") or "").split(";")[0]
        if media in (MANIFEST_LIST, OCI_INDEX) or ("manifests" in doc and "config" not in doc):
            entries = doc.get("manifests") or []
            chosen = next((m for m in entries if (m.get("platform") or {}).get("os") == "linux"
                           and (m.get("platform") or {}).get("architecture") == "amd64"), None)
            if chosen is None:
                platforms = [m.get("platform") or {} for m in entries]
                found = ", ".join(f"{p.get('os')}/{p.get('architecture')}" for p in platforms) or "none"
                raise RegistryError(f"{ref.repository}:{ref.reference} has no linux/amd64 image (platforms: {found})")
            resp = self._image_get(ref, f"manifests/{chosen['digest']}", ACCEPT)
            doc = self._json(ref, resp.body, "manifest")
            media = doc.get("mediaType") or chosen.get("mediaType") or ""
        return doc, media

    def image_config(self, ref_text: str) -> tuple[dict[str, Any], str | None]:
        """The image config (``{"config": {"Env", "Labels", …}}``) and its digest. Raises RegistryError."""
        ref = parse_reference(ref_text)
        doc, media = self.manifest(ref)
        if media == MANIFEST_V1 or doc.get("schemaVersion") == 1:
            history = doc.get("history") or []
            if not history:
                raise RegistryError(f"schema-1 manifest of {ref.repository}:{ref.reference} has no history")
            return self._json(ref, str(history[0].get("v1Compatibility", "")).encode(), "v1Compatibility"), None
        digest = str((doc.get("config") or {}).get("digest") or "")
        if not _DIGEST.match(digest):
            raise RegistryError(f"manifest of {ref.repository}:{ref.reference} names no config blob")
        data = self._image_get(ref, f"blobs/{digest}", "application/octet-stream, */*").body
        algo, _, want = digest.partition(":")
        if algo == "sha256" and hashlib.sha256(data).hexdigest() != want:
            raise RegistryError(f"config blob of {ref.repository}:{ref.reference} does not match its digest {digest}")
        return self._json(ref, data, "config blob"), digest

    def facts(self, ref: str) -> ImageFacts:
        """The image's facts; never raises (a failure is the facts' ``error``)."""
        try:
            source = f"registry {parse_reference(ref).registry}"
        except RegistryError as exc:
            return unreadable(ref, "registry", str(exc))
        try:
            config, digest = self.image_config(ref)
        except RegistryError as exc:
            return unreadable(ref, source, str(exc))
        return image_facts_from_config(ref, config, source, digest)


    # ---- what a registry holds ------------------------------------------------------------------------------
    def _listing(self, registry: str, path: str, scope: str, key: str, limit: int) -> list[str]:
        resp = self._get(registry, path, "application/json", scope, {"n": limit})
        try:
            doc = json.loads(resp.body)
        except ValueError:
            raise RegistryError(f"registry {registry} sent a {key} list that is not JSON") from None
        items = doc.get(key) if isinstance(doc, dict) else None
        return [str(x) for x in items or ()]

    def repositories(self, registry: str, limit: int = 100) -> list[str]:
        """The repositories in the registry's catalog (``/v2/_catalog``), at most ``limit``."""
        return self._listing(registry, "_catalog", "registry:catalog:*", "repositories", limit)[:limit]

    def tags(self, registry: str, repository: str, limit: int = 100) -> list[str]:
        """The tags of a repository (``/v2/<name>/tags/list``), at most ``limit``."""
        return self._listing(registry, f"{quote(repository, safe='/')}/tags/list",
                             f"repository:{repository}:pull", "tags", limit)[:limit]

    def images(self, registry: str, limit: int = 40) -> list[str]:
        """``registry/repository:tag`` of the images the registry holds (catalog order, tags sorted), at most
        ``limit``. Raises RegistryError."""
        out: list[str] = []
        for repo in self.repositories(registry, limit):
            out += [f"{registry}/{repo}:{tag}" for tag in sorted(self.tags(registry, repo, limit))]
            if len(out) >= limit:
                break
        return out[:limit]


@dataclass
class EngineImageSource:
    """Image facts from a Docker Engine's local images (``docker inspect`` → ``Config``)."""

    host: str | None = None  # None: DOCKER_HOST, else the local socket
    timeout: float = 10.0

    def facts(self, ref: str) -> ImageFacts:
        import docker
        from docker.errors import DockerException, ImageNotFound

        where = self.host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        source = f"docker engine {where}"
        try:
            client = docker.DockerClient(base_url=self.host, timeout=int(self.timeout)) if self.host else \
                docker.from_env(timeout=int(self.timeout))
        except DockerException as exc:
            return unreadable(ref, source, f"cannot reach the Docker Engine at {where}: {exc}")
        try:
            attrs = client.images.get(ref).attrs
        except ImageNotFound:
            return unreadable(ref, source, f"image {ref} is not in the Docker Engine at {where} (pull or build it)")
        except DockerException as exc:
            return unreadable(ref, source, f"cannot reach the Docker Engine at {where}: {exc}")
        finally:
            client.close()
        return image_facts_from_config(ref, attrs.get("Config") or {}, source, attrs.get("Id"))


class CachedImages:
    """One lookup per reference for a source (thread-safe enough: a repeated lookup only costs a request)."""

    def __init__(self, source: ImageSource) -> None:
        self.source = source
        self._seen: dict[str, ImageFacts] = {}

    def facts(self, ref: str) -> ImageFacts:
        if ref not in self._seen:
            self._seen[ref] = self.source.facts(ref)
        return self._seen[ref]
