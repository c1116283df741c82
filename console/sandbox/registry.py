"""A read-only Docker Registry HTTP API v2 over the sandbox's image catalog.

Enough of the API for the console (and curl, skopeo-style clients) to read what a real registry
serves: the catalog and tag lists (with ``n``/``last`` pagination and a ``Link`` header), schema-2
manifests by tag or digest (GET and HEAD, ``Docker-Content-Digest``), and config blobs — which carry
the image's ``Env`` (CUDA_VERSION) and labels, all the compatibility checks need.

Layer blobs: HEAD answers 200 with the layer's size (what clients check before a pull); GET answers
404 BLOB_UNKNOWN because the catalog records layer sizes, not contents — nothing in the sandbox pulls.
Every write method answers 405 UNSUPPORTED, as a registry in read-only mode does. No auth: the
registry binds loopback only. Errors use the registry's JSON format ``{"errors": [{code, message,
detail}]}`` with distribution's codes and statuses.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from aiohttp import web

from .images import CatalogImage, ImageCatalog

API_VERSION_HEADER = {"Docker-Distribution-API-Version": "registry/2.0"}
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_MESSAGES = {
    "NAME_UNKNOWN": "repository name not known to registry",
    "NAME_INVALID": "invalid repository name",
    "MANIFEST_UNKNOWN": "manifest unknown",
    "BLOB_UNKNOWN": "blob unknown to registry",
    "DIGEST_INVALID": "provided digest did not match uploaded content",
    "TAG_INVALID": "manifest tag did not match URI",
    "PAGINATION_NUMBER_INVALID": "invalid number of results requested",
    "UNSUPPORTED": "The operation is unsupported.",
}


class CatalogSource(Protocol):
    """Anything with the image catalog (the sandbox context, or a stand-in bound before it exists)."""

    catalog: ImageCatalog


def registry_error(status: int, code: str, detail: Any = None) -> web.HTTPException:
    """An HTTP error carrying the registry's JSON error body."""
    body = json.dumps({"errors": [{"code": code, "message": _MESSAGES[code], "detail": detail}]})
    exc = web.HTTPException(text=body, content_type="application/json", headers=API_VERSION_HEADER)
    exc.set_status(status)
    return exc


def _json(data: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=json.dumps(data), content_type="application/json",
                        headers={**API_VERSION_HEADER, **(headers or {})})


def _page(items: list[str], request: web.Request) -> tuple[list[str], dict[str, str]]:
    """Apply ``last`` and ``n``; when more remain, the ``Link`` header points at the next page."""
    last = request.query.get("last")
    if last:
        items = [i for i in items if i > last]
    raw_n = request.query.get("n")
    if raw_n is None or raw_n == "":
        return items, {}
    try:
        n = int(raw_n)
    except ValueError:
        raise registry_error(400, "PAGINATION_NUMBER_INVALID", {"n": raw_n}) from None
    if n < 0:
        raise registry_error(400, "PAGINATION_NUMBER_INVALID", {"n": raw_n})
    if n == 0 or len(items) <= n:
        return items[:n] if n == 0 else items, {}
    page = items[:n]
    return page, {"Link": f'<{request.path}?last={page[-1]}&n={n}>; rel="next"'}


def _accepts_schema2(request: web.Request) -> bool:
    """True unless the client's Accept header lists media types and none of them is schema 2."""
    accepted = [part.split(";")[0].strip() for value in request.headers.getall("Accept", [])
                for part in value.split(",")]
    accepted = [a for a in accepted if a]
    return not accepted or any(a in (MANIFEST_V2, "*/*", "application/*") for a in accepted)


class _Registry:
    def __init__(self, source: CatalogSource) -> None:
        self._source = source  # read per request: the catalog is bound after this app is

    def _images(self, name: str) -> list[CatalogImage]:
        if not _NAME.match(name) or len(name) > 255:
            raise registry_error(400, "NAME_INVALID", {"name": name})
        images = [img for (repo, _), img in self._source.catalog.images.items() if repo == name]
        if not images:
            raise registry_error(404, "NAME_UNKNOWN", {"name": name})
        return images

    async def base(self, _request: web.Request) -> web.Response:
        return _json({})

    async def catalog(self, request: web.Request) -> web.Response:
        repos, headers = _page(self._source.catalog.repositories(), request)
        return _json({"repositories": repos}, headers)

    async def tags(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        tags, headers = _page(sorted(img.tag for img in self._images(name)), request)
        return _json({"name": name, "tags": tags}, headers)

    async def manifest(self, request: web.Request) -> web.Response:
        name, reference = request.match_info["name"], request.match_info["reference"]
        images = self._images(name)
        if ":" in reference:
            if not _DIGEST.match(reference):
                raise registry_error(400, "DIGEST_INVALID", {"digest": reference})
            image = next((i for i in images if i.manifest_digest() == reference), None)
        else:
            if not _TAG.match(reference):
                raise registry_error(400, "TAG_INVALID", {"Tag": reference})
            image = next((i for i in images if i.tag == reference), None)
        if image is None:
            key = "Digest" if ":" in reference else "Tag"
            raise registry_error(404, "MANIFEST_UNKNOWN", {key: reference})
        if not _accepts_schema2(request):
            # Distribution no longer converts to schema 1; an OCI-only client gets a 404 it can act on.
            raise registry_error(404, "MANIFEST_UNKNOWN", {"reason": f"only {MANIFEST_V2} is available"})
        body, digest = image.manifest_bytes(), image.manifest_digest()
        headers = {**API_VERSION_HEADER, "Docker-Content-Digest": digest, "ETag": f'"{digest}"'}
        return web.Response(body=body, content_type=MANIFEST_V2, headers=headers)

    async def blob(self, request: web.Request) -> web.StreamResponse:
        name, digest = request.match_info["name"], request.match_info["digest"]
        if not _DIGEST.match(digest):
            raise registry_error(400, "DIGEST_INVALID", {"digest": digest})
        for image in self._images(name):
            if image.config_digest() == digest:
                return web.Response(body=image.config_bytes(), content_type="application/octet-stream",
                                    headers=self._blob_headers(digest))
            for i, layer in enumerate(image.layers):
                if image.layer_digest(i) != digest:
                    continue
                if request.method == "HEAD":
                    resp = web.StreamResponse(headers=self._blob_headers(digest))
                    resp.content_type = "application/octet-stream"
                    resp.content_length = layer.size
                    return resp
                reason = "the sandbox catalog records layer sizes, not layer contents"
                raise registry_error(404, "BLOB_UNKNOWN", {"digest": digest, "reason": reason})
        raise registry_error(404, "BLOB_UNKNOWN", {"digest": digest})

    @staticmethod
    def _blob_headers(digest: str) -> dict[str, str]:
        return {**API_VERSION_HEADER, "Docker-Content-Digest": digest, "ETag": f'"{digest}"',
                "Cache-Control": "max-age=31536000"}

    async def unsupported(self, request: web.Request) -> web.Response:
        if request.method in ("GET", "HEAD"):
            return web.Response(status=404, text="404 page not found\n", headers=API_VERSION_HEADER)
        raise registry_error(405, "UNSUPPORTED", {"method": request.method})


def make_registry_app(ctx: CatalogSource) -> web.Application:
    """The registry app. ``ctx`` is read per request, so it may be bound after the app is built."""
    reg = _Registry(ctx)
    app = web.Application()
    r = app.router
    r.add_get("/v2/", reg.base)
    r.add_get("/v2", reg.base)
    r.add_get("/v2/_catalog", reg.catalog)
    r.add_get(r"/v2/{name:.+}/tags/list", reg.tags)
    r.add_get(r"/v2/{name:.+}/manifests/{reference:[^/]+}", reg.manifest)
    r.add_get(r"/v2/{name:.+}/blobs/{digest:[^/]+}", reg.blob)
    r.add_route("*", "/{tail:.*}", reg.unsupported)
    return app
