"""Which image a reference means on a cluster: the one resolver behind ``llmctl check``, ``:compat``, the
set-image gate (headless and in the console) and ``deploy``'s preflight.

The pure part — Docker's normalisation and the lookup order — is :mod:`console.core.images`; this module
adds the cluster: the registry it advertises in the KEP-1755 ConfigMap ``kube-public/local-registry-hosting``
(kind, k3d, minikube, the sandbox), read by :func:`read_local_registry`, and :class:`ResolvedImages`, an
image source that reads each reference where :func:`~console.core.images.lookup_order` says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from console.compat.facts import ImageFacts
from console.compat.registry import ImageSource
from console.core.images import LocalRegistry, lookup_order
from console.core.yamlsafe import YamlError, safe_load
from console.kube.errors import KubeError

LOCAL_REGISTRY_CONFIGMAP = ("kube-public", "local-registry-hosting")  # KEP-1755
LOCAL_REGISTRY_KEY = "localRegistryHosting.v1"


def local_registry(configmap: Mapping[str, Any] | None) -> LocalRegistry | None:
    """The registry a KEP-1755 ``local-registry-hosting`` ConfigMap advertises (None: none, or unreadable)."""
    text = ((configmap or {}).get("data") or {}).get(LOCAL_REGISTRY_KEY)
    if not text:
        return None
    try:
        doc = safe_load(text, "the local-registry-hosting ConfigMap")
    except YamlError:
        return None
    if not isinstance(doc, dict) or not doc.get("host"):
        return None
    return LocalRegistry(str(doc["host"]), str(doc.get("hostFromContainerRuntime") or "") or None,
                         str(doc.get("hostFromClusterNetwork") or "") or None)


def local_registry_host(configmap: Mapping[str, Any] | None) -> str | None:
    """``host`` of a KEP-1755 ConfigMap (what the guided deployment offers images from)."""
    found = local_registry(configmap)
    return found.host if found else None


async def read_local_registry(transport: Any) -> LocalRegistry | None:
    """The cluster's advertised local registry; None when there is none or it cannot be read (a user without
    access to ``kube-public`` gets references looked up as written)."""
    ns, name = LOCAL_REGISTRY_CONFIGMAP
    try:
        return local_registry(await transport.get(f"/api/v1/namespaces/{ns}/configmaps/{name}"))
    except KubeError:
        return None


class ResolvedImages:
    """An image source that reads each reference where the cluster's nodes would get it
    (:func:`~console.core.images.lookup_order`): a Docker Hub name through the cluster's local registry first,
    then on Docker Hub. The facts keep the reference as written; their ``source`` says where they were read."""

    def __init__(self, inner: ImageSource, local: LocalRegistry | None) -> None:
        self.inner = inner
        self.local = local

    def facts(self, ref: str) -> ImageFacts:
        errors: list[str] = []
        last: ImageFacts | None = None
        for step in lookup_order(ref, self.local):
            found = self.inner.facts(step.ref)
            if found.error is None:
                return dataclasses.replace(found, ref=ref, source=f"{found.source} {step.via}".strip())
            last = found
            errors.append(f"{step.via}: {found.error}" if step.via else found.error)
        assert last is not None
        # The last place (as written) first: a Docker Hub error, then what the local registry said.
        return dataclasses.replace(last, ref=ref, error="; ".join(reversed(errors)))
