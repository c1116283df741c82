"""Image references the way Docker reads them, and where a cluster's nodes find them: pure, no I/O.

- :func:`parse_image` is Docker's ``ParseNormalizedNamed`` + ``TagNameOnly`` (distribution/reference): the
  first path component is a registry when it has a ``.`` or a ``:``, is ``localhost`` or has upper case;
  otherwise the image is on Docker Hub, ``docker.io``, and a one-part name is under ``library/``;
  ``index.docker.io`` is ``docker.io``; no tag and no digest means ``:latest``. So ``llm/x:tag`` is
  ``docker.io/llm/x:tag`` and ``ubuntu`` is ``docker.io/library/ubuntu:latest``.
- :func:`lookup_order` says where to read an image's config from, given the registry a cluster advertises
  (KEP-1755's ``local-registry-hosting`` ConfigMap, read in :mod:`console.compat.resolve`): a Docker Hub
  image first through that registry — where the nodes of a kind/minikube cluster with a registry mirror,
  and the sandbox's, pull it from — then on Docker Hub; an image named by the registry's in-cluster name
  (``hostFromContainerRuntime``, ``hostFromClusterNetwork``) at the host the registry answers on from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

DOCKER_HUB = "docker.io"
LEGACY_HUB = "index.docker.io"
OFFICIAL = "library"
MAX_NAME = 255  # distribution/reference NameTotalLengthMax

_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"^(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$")
_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class ImageRefError(ValueError):
    """Not an image reference; the message names it: ``not an image reference: 'Bad/Ref'``."""


@dataclass(frozen=True)
class ImageName:
    """A normalised image reference: ``registry/repository[:tag][@digest]``."""

    registry: str  # "docker.io" for Docker Hub
    repository: str  # "library/ubuntu", "llm/claude-inference"
    tag: str | None  # "latest" when neither a tag nor a digest was given
    digest: str | None

    @property
    def reference(self) -> str:
        """What to ask the registry's manifest endpoint for: the digest, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def path(self) -> str:
        """The reference without its registry: ``llm/x:v1``, ``library/ubuntu:latest``."""
        return self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def full(self) -> str:
        """The fully qualified reference: ``docker.io/library/ubuntu:latest``."""
        return f"{self.registry}/{self.path}"

    @property
    def on_docker_hub(self) -> bool:
        return self.registry == DOCKER_HUB

    @property
    def familiar(self) -> str:
        """How ``docker`` shows it: without ``docker.io/`` and ``library/``."""
        if not self.on_docker_hub:
            return self.full
        return self.path.removeprefix(f"{OFFICIAL}/") if self.repository.count("/") == 1 else self.path

    def on(self, registry: str) -> ImageName:
        """The same repository, tag and digest on another registry."""
        return replace(self, registry=registry)

    def __str__(self) -> str:
        return self.full


def _is_registry(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost" or first != first.lower()


def parse_image(ref: str) -> ImageName:
    """``ref`` normalised as Docker does (see the module docstring). Raises :class:`ImageRefError`."""
    text = str(ref).strip()
    rest, at, digest = text.partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and _is_registry(first):
        registry, path = first, remainder
        if not _DOMAIN.match(registry):
            raise ImageRefError(f"not an image reference: {ref!r}")
    else:
        registry, path = DOCKER_HUB, rest
    if registry == LEGACY_HUB:
        registry = DOCKER_HUB
    name, tag = path, None
    if ":" in path.rsplit("/", 1)[-1]:
        name, _, tag = path.rpartition(":")
    if registry == DOCKER_HUB and name and "/" not in name:
        name = f"{OFFICIAL}/{name}"
    if (not name or not _PATH.match(name) or (tag is not None and not _TAG.match(tag))
            or (at and not _DIGEST.match(digest)) or len(f"{registry}/{name}") > MAX_NAME):
        raise ImageRefError(f"not an image reference: {ref!r}")
    return ImageName(registry, name, tag if tag or digest else "latest", digest or None)


def normalize_image(ref: str) -> str:
    """``llm/x:tag`` → ``docker.io/llm/x:tag``; ``ubuntu`` → ``docker.io/library/ubuntu:latest``."""
    return parse_image(ref).full


def same_image(a: str, b: str) -> bool:
    """Whether two references name the same image once normalised (unparseable ones compare as written)."""
    try:
        return parse_image(a) == parse_image(b)
    except ImageRefError:
        return a.strip() == b.strip()


# ---- where the cluster's nodes get it ----------------------------------------------------------------------
@dataclass(frozen=True)
class LocalRegistry:
    """A cluster's advertised registry (KEP-1755 ``LocalRegistryHostingV1``)."""

    host: str  # where it answers from this machine: "localhost:5001", "127.0.0.1:40121"
    from_container_runtime: str | None = None  # how the nodes' runtime names it: "kind-registry:5000"
    from_cluster_network: str | None = None  # how pods name it: "kind-registry.local:5000"

    @property
    def aliases(self) -> tuple[str, ...]:
        """The names by which a pod's image may point at this registry (``host`` first)."""
        names = [self.host, self.from_container_runtime, self.from_cluster_network]
        return tuple(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class Lookup:
    """One place to read an image from: ``ref`` to ask for, and ``via`` why there (empty: as written)."""

    ref: str
    via: str = ""  # "via the cluster's local registry (KEP-1755)"


def lookup_order(ref: str, local: LocalRegistry | None) -> list[Lookup]:
    """Where to read ``ref``'s config, in order (see the module docstring). An unparseable reference is
    looked up as written (the source then says why it is not one)."""
    try:
        name = parse_image(ref)
    except ImageRefError:
        return [Lookup(ref)]
    if local is None or not local.host:
        return [Lookup(name.full)]
    if name.on_docker_hub:
        return [Lookup(name.on(local.host).full, "via the cluster's local registry (KEP-1755)"), Lookup(name.full)]
    if name.registry != local.host and name.registry in local.aliases:
        return [Lookup(name.on(local.host).full, f"via the cluster's local registry, which its nodes call "
                                                f"{name.registry} (KEP-1755)")]
    return [Lookup(name.full)]
