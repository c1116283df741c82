"""Image references the same way everywhere (issue 13): Docker's normalisation (console/core/images.py, pure),
the cluster's KEP-1755 local registry (console/compat/resolve.py) and the lookup order every command and
screen uses — pure, over fixed data."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from console.compat.facts import ImageFacts, unreadable
from console.compat.resolve import ResolvedImages, local_registry, local_registry_host
from console.core.images import (
    ImageRefError,
    LocalRegistry,
    Lookup,
    lookup_order,
    normalize_image,
    parse_image,
    same_image,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("ref", "full"), [
    ("llm/claude-inference:v2.0.0-cuda13", "docker.io/llm/claude-inference:v2.0.0-cuda13"),
    ("ubuntu", "docker.io/library/ubuntu:latest"),
    ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
    ("docker.io/ubuntu", "docker.io/library/ubuntu:latest"),
    ("index.docker.io/llm/x:1", "docker.io/llm/x:1"),
    ("docker.io/library/ubuntu:latest", "docker.io/library/ubuntu:latest"),
    ("localhost/x", "localhost/x:latest"),
    ("localhost:5000/llm/x:v1", "localhost:5000/llm/x:v1"),
    ("registry.local/llm/claude-inference:v1.0.0", "registry.local/llm/claude-inference:v1.0.0"),
    ("127.0.0.1:40121/llm/claude-inference:v1.1.0", "127.0.0.1:40121/llm/claude-inference:v1.1.0"),
    ("nvcr.io/nvidia/pytorch:24.05-py3", "nvcr.io/nvidia/pytorch:24.05-py3"),
    (f"r.io/a@{DIGEST}", f"r.io/a@{DIGEST}"),
    (f"llm/a:v1@{DIGEST}", f"docker.io/llm/a:v1@{DIGEST}"),
    ("Registry/app:v1", "Registry/app:v1"),  # upper case: a registry host, as Docker reads it
    ("  llm/x:v1 ", "docker.io/llm/x:v1"),
])
def test_normalised_as_docker_does(ref: str, full: str) -> None:
    assert normalize_image(ref) == full


def test_parts_and_familiar_names() -> None:
    ubuntu = parse_image("ubuntu")
    assert (ubuntu.registry, ubuntu.repository, ubuntu.tag, ubuntu.digest) == ("docker.io", "library/ubuntu",
                                                                               "latest", None)
    assert ubuntu.on_docker_hub and ubuntu.familiar == "ubuntu:latest" and ubuntu.reference == "latest"
    assert str(ubuntu) == "docker.io/library/ubuntu:latest" and ubuntu.path == "library/ubuntu:latest"
    short = parse_image("llm/x:v1")
    assert short.familiar == "llm/x:v1" and short.on("127.0.0.1:5000").full == "127.0.0.1:5000/llm/x:v1"
    pinned = parse_image(f"r.io/a@{DIGEST}")
    assert pinned.tag is None and pinned.reference == DIGEST and not pinned.on_docker_hub
    assert pinned.familiar == f"r.io/a@{DIGEST}"
    assert same_image("ubuntu", "docker.io/library/ubuntu:latest") and same_image("llm/x:1", "index.docker.io/llm/x:1")
    assert not same_image("llm/x:1", "registry.local/llm/x:1") and same_image("Bad/Ref", "Bad/Ref")


@pytest.mark.parametrize("bad", ["", "Bad/Image", "x:!", "nginx latest", "r.io/a@nope", "-bad.io/x:1", "a//b",
                                 "llm/x:" + "t" * 129, "r.io/" + "a" * 260])
def test_not_references(bad: str) -> None:
    with pytest.raises(ImageRefError, match=r"^not an image reference: "):
        parse_image(bad)


def test_core_images_is_pure() -> None:
    tree = ast.parse((Path(__file__).resolve().parents[1] / "console" / "core" / "images.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
        {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "re", "dataclasses"}, imported


# ---- the cluster's local registry ---------------------------------------------------------------------------
KIND = LocalRegistry("localhost:5001", "kind-registry:5000", "kind-registry.local:5000")


def configmap(text: str) -> dict:
    return {"metadata": {"name": "local-registry-hosting", "namespace": "kube-public"},
            "data": {"localRegistryHosting.v1": text}}


def test_kep_1755_configmap() -> None:
    kind = configmap('host: "localhost:5001"\nhostFromContainerRuntime: "kind-registry:5000"\n'
                     'hostFromClusterNetwork: "kind-registry.local:5000"\nhelp: "https://kind.sigs.k8s.io/"\n')
    assert local_registry(kind) == KIND and local_registry_host(kind) == "localhost:5001"
    assert KIND.aliases == ("localhost:5001", "kind-registry:5000", "kind-registry.local:5000")
    assert local_registry(configmap('host: "127.0.0.1:40121"\n')) == LocalRegistry("127.0.0.1:40121")
    for broken in (None, {}, {"data": {}}, configmap("host: [unclosed"), configmap("- a list"), configmap("help: x")):
        assert local_registry(broken) is None and local_registry_host(broken) is None


def test_lookup_order() -> None:
    sandbox = LocalRegistry("127.0.0.1:40121")
    assert lookup_order("llm/x:v1", None) == [Lookup("docker.io/llm/x:v1")]
    via = "via the cluster's local registry (KEP-1755)"
    assert lookup_order("llm/x:v1", sandbox) == [Lookup("127.0.0.1:40121/llm/x:v1", via),
                                                 Lookup("docker.io/llm/x:v1")]
    assert lookup_order("docker.io/library/ubuntu", sandbox)[0] == Lookup("127.0.0.1:40121/library/ubuntu:latest",
                                                                          via)
    assert lookup_order("127.0.0.1:40121/llm/x:v1", sandbox) == [Lookup("127.0.0.1:40121/llm/x:v1")]
    assert lookup_order("nvcr.io/nvidia/pytorch:24.05-py3", sandbox) == [Lookup("nvcr.io/nvidia/pytorch:24.05-py3")]
    (in_cluster,) = lookup_order("kind-registry:5000/llm/x:v1", KIND)
    assert in_cluster.ref == "localhost:5001/llm/x:v1" and "which its nodes call kind-registry:5000" in in_cluster.via
    assert lookup_order("Bad/Image", sandbox) == [Lookup("Bad/Image")], "looked up as written: the source says why"


class FakeSource:
    """Image facts from a fixed set of fully qualified references; records what was asked."""

    def __init__(self, *known: str) -> None:
        self.known = set(known)
        self.asked: list[str] = []

    def facts(self, ref: str) -> ImageFacts:
        self.asked.append(ref)
        registry = ref.split("/", 1)[0]
        if ref in self.known:
            return ImageFacts(ref, f"registry {registry}", cuda="13.0.0")
        return unreadable(ref, f"registry {registry}", f"{ref} not found on registry {registry}")


def test_resolved_images_reads_where_the_nodes_pull() -> None:
    sandbox = LocalRegistry("127.0.0.1:40121")
    source = FakeSource("127.0.0.1:40121/llm/x:v1", "docker.io/library/ubuntu:latest")
    resolved = ResolvedImages(source, sandbox)
    found = resolved.facts("llm/x:v1")
    assert found.ref == "llm/x:v1" and found.cuda == "13.0.0" and found.error is None
    assert found.source == "registry 127.0.0.1:40121 via the cluster's local registry (KEP-1755)"
    assert source.asked == ["127.0.0.1:40121/llm/x:v1"], "Docker Hub not asked once the mirror has it"

    hub = resolved.facts("ubuntu")
    assert hub.ref == "ubuntu" and hub.source == "registry docker.io" and hub.error is None
    missing = resolved.facts("llm/nope:v1")
    assert missing.ref == "llm/nope:v1" and missing.error == (
        "docker.io/llm/nope:v1 not found on registry docker.io; via the cluster's local registry (KEP-1755): "
        "127.0.0.1:40121/llm/nope:v1 not found on registry 127.0.0.1:40121")
    assert ResolvedImages(source, None).facts("llm/x:v1").error, "without a local registry: Docker Hub only"
