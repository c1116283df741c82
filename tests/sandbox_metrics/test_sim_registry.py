"""The read-only Registry HTTP API v2 over real HTTP: catalog, tags, manifests, config blobs, errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from console.sandbox.context import SandboxContext
from console.sandbox.registry import MANIFEST_V2, make_registry_app

Serve = Callable[[web.Application], Awaitable[str]]
REPO = "llm/claude-inference"


@pytest.fixture
async def registry(ctx: SandboxContext, serve: Serve) -> str:
    return await serve(make_registry_app(ctx))


async def fetch(url: str, method: str = "GET", **headers: str) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers) as resp:
        return resp.status, resp.headers, await resp.read()


def error_code(body: bytes) -> str:
    return json.loads(body)["errors"][0]["code"]


async def test_base_catalog_and_tags(registry: str) -> None:
    status, headers, body = await fetch(registry + "/v2/")
    assert status == 200 and json.loads(body) == {}
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"
    status, _, body = await fetch(registry + "/v2/_catalog")
    assert json.loads(body) == {"repositories": ["llm/claude-inference", "llm/claude-router"]}
    status, headers, body = await fetch(registry + "/v2/_catalog?n=1")
    assert json.loads(body)["repositories"] == ["llm/claude-inference"]
    assert headers["Link"] == '</v2/_catalog?last=llm/claude-inference&n=1>; rel="next"'
    _, _, body = await fetch(registry + "/v2/_catalog?n=1&last=llm/claude-inference")
    assert json.loads(body)["repositories"] == ["llm/claude-router"]
    _, _, body = await fetch(registry + f"/v2/{REPO}/tags/list")
    tags = json.loads(body)
    assert tags["name"] == REPO and "v1.0.0" in tags["tags"] and "v2.0.0-cuda13" in tags["tags"]


async def test_manifest_by_tag_and_digest_and_config_blob(registry: str) -> None:
    status, headers, body = await fetch(registry + f"/v2/{REPO}/manifests/v1.0.0", Accept=MANIFEST_V2)
    assert status == 200 and headers["Content-Type"] == MANIFEST_V2
    digest = headers["Docker-Content-Digest"]
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest(), "the digest is of the bytes served"
    manifest = json.loads(body)
    assert manifest["schemaVersion"] == 2 and len(manifest["layers"]) == 5

    status, headers, head_body = await fetch(registry + f"/v2/{REPO}/manifests/{digest}", "HEAD")
    assert status == 200 and head_body == b"" and int(headers["Content-Length"]) == len(body)
    _, _, by_digest = await fetch(registry + f"/v2/{REPO}/manifests/{digest}")
    assert by_digest == body

    config = manifest["config"]["digest"]
    status, headers, blob = await fetch(registry + f"/v2/{REPO}/blobs/{config}")
    assert status == 200 and headers["Docker-Content-Digest"] == config
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == config
    env = json.loads(blob)["config"]["Env"]
    assert "CUDA_VERSION=12.2.2" in env and "NVIDIA_REQUIRE_CUDA=cuda>=12.2" in env

    layer = manifest["layers"][0]
    status, headers, _ = await fetch(registry + f"/v2/{REPO}/blobs/{layer['digest']}", "HEAD")
    assert status == 200 and int(headers["Content-Length"]) == layer["size"]
    status, _, body = await fetch(registry + f"/v2/{REPO}/blobs/{layer['digest']}")
    assert status == 404 and error_code(body) == "BLOB_UNKNOWN", "layer contents are not stored"


@pytest.mark.parametrize(("path", "method", "status", "code"), [
    ("/v2/llm/nope/tags/list", "GET", 404, "NAME_UNKNOWN"),
    ("/v2/llm/nope/manifests/v1", "GET", 404, "NAME_UNKNOWN"),
    (f"/v2/{REPO}/manifests/v9.9.9", "GET", 404, "MANIFEST_UNKNOWN"),
    (f"/v2/{REPO}/manifests/sha256:{'0' * 64}", "GET", 404, "MANIFEST_UNKNOWN"),
    (f"/v2/{REPO}/manifests/sha256:not@hex", "GET", 400, "DIGEST_INVALID"),
    (f"/v2/{REPO}/blobs/sha256:{'0' * 64}", "GET", 404, "BLOB_UNKNOWN"),
    ("/v2/UPPER/tags/list", "GET", 400, "NAME_INVALID"),
    ("/v2/_catalog?n=-1", "GET", 400, "PAGINATION_NUMBER_INVALID"),
    (f"/v2/{REPO}/manifests/v1.0.0", "PUT", 405, "UNSUPPORTED"),
    (f"/v2/{REPO}/manifests/v1.0.0", "DELETE", 405, "UNSUPPORTED"),
])
async def test_errors_use_the_registry_format(
    registry: str, path: str, method: str, status: int, code: str
) -> None:
    got, headers, body = await fetch(registry + path, method)
    assert got == status and error_code(body) == code
    assert headers["Docker-Distribution-API-Version"] == "registry/2.0"


async def test_accept_is_honoured(registry: str) -> None:
    status, _, body = await fetch(registry + f"/v2/{REPO}/manifests/v1.0.0",
                                  Accept="application/vnd.oci.image.manifest.v1+json")
    assert status == 404 and error_code(body) == "MANIFEST_UNKNOWN"
    status, _, _ = await fetch(registry + f"/v2/{REPO}/manifests/v1.0.0",
                               Accept=f"application/vnd.oci.image.manifest.v1+json, {MANIFEST_V2}")
    assert status == 200
