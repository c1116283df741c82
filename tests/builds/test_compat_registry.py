"""Contract: image facts read from a real docker-registry over the HTTP API v2 without pulling — images built by
the suite (busybox base) whose config sets CUDA_VERSION and the arch-list label, pushed, then removed from the
engine; manifest lists / OCI indexes resolved to linux/amd64; unknown repository or tag, unreachable registry;
Basic auth (htpasswd) with and without credentials, never echoing the password; Bearer tokens from the realm a
real registry's challenge names; the catalog and tag lists the guided deployment offers. Also the Docker
Engine source."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from console.compat.facts import NodeFacts
from console.compat.registry import (
    MANIFEST_LIST,
    OCI_INDEX,
    EngineImageSource,
    RegistryClient,
    RegistryError,
)
from console.compat.rules import Level, judge
from console.deploy.wizard import registry_images
from tests.conftest import need_tool
from tests.infra_docker import Engine, Registry, free_port, remove_tree, start_registry, stop_registry

A10G = NodeFacts("gpu-node-1", "NVIDIA-A10G", "535.104.05", "12.2", (8, 6), 23028, 4, 4, gfd=True)
PASSWORD = "pw-7f3a9c-not-in-logs"
IMAGES = {  # tag → Dockerfile lines after FROM
    "cuda122": ['ENV CUDA_VERSION=12.2.2 NVIDIA_REQUIRE_CUDA="cuda>=12.2"',
                'LABEL ai.llmctl.cuda.arch-list="sm_80 sm_86 compute_86"'],
    "cuda13": ["ENV CUDA_VERSION=13.0.0", 'LABEL ai.llmctl.cuda.arch-list="sm_90"'],
    "torch": ['ENV NVIDIA_REQUIRE_CUDA="cuda>=12.4 brand=tesla" TORCH_CUDA_ARCH_LIST="8.0 9.0+PTX"'],
    "plain": ["ENV APP=1"],
}


def docker_client(engine: Engine):  # type: ignore[no-untyped-def]
    import docker

    return docker.DockerClient(base_url=engine.host, timeout=60)


@pytest.fixture(scope="module")
def pushed(docker_engine: Engine, registry: Registry) -> Iterator[dict[str, str]]:
    """Each image built, pushed as ADDRESS/compat/app:TAG, then removed from the engine (nothing to pull from)."""
    dk = docker_client(docker_engine)
    refs = {}
    try:
        for tag, lines in IMAGES.items():
            dockerfile = "\n".join([f"FROM {docker_engine.base_image}", *lines]) + "\n"
            image, _ = dk.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"compat/app:{tag}", rm=True)
            ref = f"{registry.address}/compat/app:{tag}"
            image.tag(f"{registry.address}/compat/app", tag)
            for line in dk.images.push(f"{registry.address}/compat/app", tag, stream=True, decode=True):
                assert "error" not in line, line
            dk.images.remove(ref)
            refs[tag] = ref
        yield refs
    finally:
        dk.close()


def put_manifest(registry: str, path: str, doc: dict, media: str) -> None:
    req = urllib.request.Request(f"http://{registry}/v2/{path}", data=json.dumps(doc).encode(), method="PUT",
                                 headers={"Content-Type": media})
    urllib.request.urlopen(req, timeout=10).close()


def manifest_entry(registry: str, tag: str, os_: str, arch: str) -> dict:
    req = urllib.request.Request(f"http://{registry}/v2/compat/app/manifests/{tag}",
                                 headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
        media = resp.headers["Content-Type"]
    return {"mediaType": media, "size": len(body), "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "platform": {"os": os_, "architecture": arch}}


def test_facts_over_http_v2_without_pulling(docker_engine: Engine, registry: Registry,
                                            pushed: dict[str, str]) -> None:
    dk = docker_client(docker_engine)
    try:
        local = {t for i in dk.images.list() for t in i.tags}
    finally:
        dk.close()
    assert not any(t.startswith(f"{registry.address}/compat/app") for t in local), "pushed images gone from engine"
    client = RegistryClient(credentials={})
    f = client.facts(pushed["cuda122"])
    assert f.error is None, f.error
    assert (f.cuda, f.cuda_from, f.require_cuda) == ("12.2.2", "CUDA_VERSION", "cuda>=12.2")
    assert f.arch_list == ("sm_80", "sm_86", "compute_86") and f.arch_from == "label ai.llmctl.cuda.arch-list"
    assert f.source == f"registry {registry.address}" and f.digest and f.digest.startswith("sha256:")
    assert judge(f, A10G)[0].level is Level.OK

    c13 = client.facts(pushed["cuda13"])
    assert c13.cuda == "13.0.0" and c13.arch_list == ("sm_90",)
    assert {v.code for v in judge(c13, A10G)} == {"driver-too-old", "arch-missing"}
    torch = client.facts(pushed["torch"])
    assert (torch.cuda, torch.cuda_from) == ("12.4", "NVIDIA_REQUIRE_CUDA")
    assert torch.arch_list == ("sm_80", "sm_90", "compute_90")
    plain = client.facts(pushed["plain"])
    assert plain.error is None and plain.cuda is None and plain.arch_list is None
    assert judge(plain, A10G)[0].code == "image-no-cuda"
    dk = docker_client(docker_engine)
    try:
        assert {t for i in dk.images.list() for t in i.tags} == local, "reading facts pulled nothing"
    finally:
        dk.close()


@pytest.mark.parametrize("media", [MANIFEST_LIST, OCI_INDEX])
def test_manifest_list_and_oci_index_pick_linux_amd64(registry: Registry, pushed: dict[str, str], media: str) -> None:
    arm = manifest_entry(registry.address, "cuda13", "linux", "arm64")
    amd = manifest_entry(registry.address, "cuda122", "linux", "amd64")
    tag = "multi-oci" if media == OCI_INDEX else "multi"
    put_manifest(registry.address, f"compat/app/manifests/{tag}",
                 {"schemaVersion": 2, "mediaType": media, "manifests": [arm, amd]}, media)
    f = RegistryClient(credentials={}).facts(f"{registry.address}/compat/app:{tag}")
    assert f.error is None and f.cuda == "12.2.2", "linux/amd64 chosen, not the first entry"
    only_arm = f"{tag}-arm"
    put_manifest(registry.address, f"compat/app/manifests/{only_arm}",
                 {"schemaVersion": 2, "mediaType": media, "manifests": [arm]}, media)
    missing = RegistryClient(credentials={}).facts(f"{registry.address}/compat/app:{only_arm}")
    assert missing.error and "no linux/amd64 image (platforms: linux/arm64)" in missing.error


def test_clear_errors(registry: Registry, pushed: dict[str, str]) -> None:
    client = RegistryClient(credentials={}, timeout=3)
    repo = client.facts(f"{registry.address}/compat/nope:v1")
    assert repo.error == f"repository compat/nope not found on registry {registry.address}"
    tag = client.facts(f"{registry.address}/compat/app:v9")
    assert tag.error and tag.error.startswith(f"v9 not found in compat/app on registry {registry.address} (tags: "
                                              "cuda122, cuda13, "), tag.error
    port = free_port()
    down = client.facts(f"127.0.0.1:{port}/compat/app:v1")
    assert down.error and down.error.startswith(f"cannot reach registry 127.0.0.1:{port} at http://127.0.0.1:{port}")
    assert "refused" in down.error.lower()
    assert client.facts("Bad/Ref").error == "not an image reference: 'Bad/Ref'"
    verdict = judge(tag, A10G)[0]
    assert verdict.level is Level.UNKNOWN and "v9 not found" in verdict.reason


@pytest.fixture(scope="module")
def auth_registry(docker_engine: Engine) -> Iterator[Registry]:
    """A second docker-registry with htpasswd (bcrypt) Basic auth, holding the cuda122 image."""
    binary = need_tool("docker-registry")
    workdir = Path(tempfile.mkdtemp(prefix="llmctl-reg-auth-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt as _crypt

        hashed = _crypt.crypt(PASSWORD, _crypt.METHOD_BLOWFISH)
    (workdir / "htpasswd").write_text(f"alice:{hashed}\n")
    reg = start_registry(workdir, binary,
                         extra=f"auth:\n  htpasswd:\n    realm: llmctl-test\n    path: {workdir}/htpasswd\n")
    try:
        dk = docker_client(docker_engine)
        try:
            dockerfile = f"FROM {docker_engine.base_image}\n" + "\n".join(IMAGES["cuda122"]) + "\n"
            image, _ = dk.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag="compat/auth:v1", rm=True)
            image.tag(f"{reg.address}/compat/auth", "v1")
            auth = {"username": "alice", "password": PASSWORD}
            for line in dk.images.push(f"{reg.address}/compat/auth", "v1", stream=True, decode=True,
                                       auth_config=auth):
                assert "error" not in line, line
        finally:
            dk.close()
        yield reg
    finally:
        stop_registry(reg)
        remove_tree(workdir)


def test_basic_auth(auth_registry: Registry) -> None:
    ref = f"{auth_registry.address}/compat/auth:v1"
    anonymous = RegistryClient(credentials={}).facts(ref)
    assert anonymous.error == (f"registry {auth_registry.address} requires authentication and no credentials are "
                               f"configured for it (docker login {auth_registry.address})")
    wrong = RegistryClient(credentials={auth_registry.address: ("alice", "wrong")}).facts(ref)
    assert wrong.error and "rejected the credentials" in wrong.error
    client = RegistryClient(credentials={auth_registry.address: ("alice", PASSWORD)})
    f = client.facts(ref)
    assert f.error is None and f.cuda == "12.2.2" and f.arch_list == ("sm_80", "sm_86", "compute_86")
    assert PASSWORD not in repr(client) and PASSWORD not in str(f) and PASSWORD not in str(wrong)


def test_engine_source(docker_engine: Engine, pushed: dict[str, str]) -> None:
    source = EngineImageSource(docker_engine.host)
    f = source.facts("compat/app:cuda122")
    assert f.error is None and f.cuda == "12.2.2" and f.arch_list == ("sm_80", "sm_86", "compute_86")
    assert f.source == f"docker engine {docker_engine.host}" and f.digest
    missing = source.facts("compat/app:nope")
    assert missing.error == f"image compat/app:nope is not in the Docker Engine at {docker_engine.host} (pull or " \
                            "build it)"


# ---- what a registry holds: the guided deployment's image list ------------------------------------------------


def test_catalog_and_tags(registry: Registry, pushed: dict[str, str]) -> None:
    client = RegistryClient(credentials={})
    assert "compat/app" in client.repositories(registry.address)
    assert set(IMAGES) <= set(client.tags(registry.address, "compat/app"))
    images = registry_images(registry.address)
    assert set(pushed.values()) <= set(images) and images == client.images(registry.address)
    assert len(registry_images(registry.address, limit=2)) == 2
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(ValueError, match=rf"^cannot reach registry {dead} at http://{dead}: Connection refused$"):
        registry_images(dead)


def test_catalog_with_basic_auth(auth_registry: Registry) -> None:
    address = auth_registry.address
    with pytest.raises(RegistryError, match="requires authentication and no credentials are configured"):
        RegistryClient(credentials={}).images(address)
    client = RegistryClient(credentials={address: ("alice", PASSWORD)})
    assert client.images(address) == [f"{address}/compat/auth:v1"]
    with pytest.raises(RegistryError) as wrong:
        RegistryClient(credentials={address: ("alice", "nope")}).images(address)
    assert "rejected the credentials" in str(wrong.value) and PASSWORD not in str(wrong.value)


# ---- Bearer tokens ------------------------------------------------------------------------------------------

SERVICE, ISSUER = "llmctl-registry", "llmctl-token-issuer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    """A token service as docker/distribution's ``auth: token`` expects: ES256 JWTs carrying their
    certificate (``x5c``), granting what each ``scope`` asks for, to ``alice`` with PASSWORD only."""

    def __init__(self, workdir: Path) -> None:
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1)).sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.bundle = workdir / "token-root.pem"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.seen: list[dict[str, Any]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization") or ""
                service.seen.append({"scopes": query.get("scope", []), "service": query.get("service"),
                                     "authorization": auth})
                if auth != "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode():
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": service.token(query.get("scope", [])), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, scopes: list[str]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2) if scope.count(":") >= 2 else ("", "", "")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": ISSUER, "sub": "alice", "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": str(uuid.uuid4()), "access": access}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s_ = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s_.to_bytes(32, 'big'))}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def token_registry(registry: Registry, pushed: dict[str, str]) -> Iterator[tuple[Registry, TokenService]]:
    """A second docker-registry over the first one's storage (so it holds the pushed images) that asks for
    Bearer tokens from :class:`TokenService`."""
    binary = need_tool("docker-registry")
    storage = re.search(r"rootdirectory: (\S+)", Path(str(registry.process.args[2])).read_text())
    assert storage, "the registry fixture's storage"
    workdir = Path(tempfile.mkdtemp(prefix="llmctl-reg-token-"))
    tokens = TokenService(workdir)
    reg = start_registry(workdir, binary, storage=storage.group(1),
                         storage_extra="  maintenance:\n    readonly:\n      enabled: true\n",
                         extra=f"auth:\n  token:\n    realm: {tokens.realm}\n    service: {SERVICE}\n"
                               f"    issuer: {ISSUER}\n    rootcertbundle: {tokens.bundle}\n")
    try:
        yield reg, tokens
    finally:
        stop_registry(reg)
        tokens.close()
        remove_tree(workdir)


def test_bearer_tokens_from_the_challenges_realm(token_registry: tuple[Registry, TokenService]) -> None:
    reg, tokens = token_registry
    ref = f"{reg.address}/compat/app:cuda122"
    anonymous = RegistryClient(credentials={}).facts(ref)
    assert anonymous.error == (f"registry {reg.address} requires authentication and no credentials are configured "
                               f"for it (docker login {reg.address})")
    assert tokens.seen[-1]["authorization"] == "" and tokens.seen[-1]["service"] == [SERVICE]
    tokens.seen.clear()

    client = RegistryClient(credentials={reg.address: ("alice", PASSWORD)})
    f = client.facts(ref)
    assert f.error is None and f.cuda == "12.2.2" and f.arch_list == ("sm_80", "sm_86", "compute_86")
    assert f"{reg.address}/compat/app:cuda122" in client.images(reg.address)
    scopes = [tuple(s["scopes"]) for s in tokens.seen]
    # The storage is shared with the session's registry: other tests' repositories may be listed (and read) too.
    assert scopes[:2] == [("repository:compat/app:pull",), ("registry:catalog:*",)]
    assert len(scopes) == len(set(scopes)), "one token per scope, reused"
    assert all(s["authorization"].startswith("Basic ") for s in tokens.seen)
    wrong = RegistryClient(credentials={reg.address: ("alice", "nope")}).facts(ref)
    assert wrong.error == (f"registry {reg.address} rejected the credentials configured for it "
                           f"(docker login {reg.address})")
    assert PASSWORD not in repr(client) and PASSWORD not in str(f) and PASSWORD not in str(wrong)
