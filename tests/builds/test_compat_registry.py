"""Contract: image facts read from a real docker-registry over the HTTP API v2 without pulling — images built by
the suite (busybox base) whose config sets CUDA_VERSION and the arch-list label, pushed, then removed from the
engine; manifest lists / OCI indexes resolved to linux/amd64; unknown repository or tag, unreachable registry;
Basic auth (htpasswd) with and without credentials, never echoing the password. Also the Docker Engine source."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.services.compat import Level, judge
from console.services.compat_facts import NodeFacts
from console.services.compat_registry import MANIFEST_LIST, OCI_INDEX, EngineImageSource, RegistryClient
from tests.conftest import need_tool
from tests.infra_docker import Engine, Registry, free_port, remove_tree, stop_registry

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
    port = free_port()
    (workdir / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {workdir}/data\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: llmctl-test-only\n"
        f"auth:\n  htpasswd:\n    realm: llmctl-test\n    path: {workdir}/htpasswd\n")
    log = open(workdir / "registry.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([binary, "serve", str(workdir / "config.yml")], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True,
                               env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
    log.close()
    reg = Registry(f"127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://{reg.address}/v2/", timeout=1).close()
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (workdir / "registry.log").read_text()
            time.sleep(0.05)
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
