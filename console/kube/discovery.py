"""Which resources the API server serves, read from its discovery documents as kubectl reads them, and how a
word typed by a person (``po``, ``deploy``, ``deployments.apps``, ``hpa``, a CRD's plural or short name)
maps to one of them.

The legacy documents (``/api``, ``/api/v1``, ``/apis``, ``/apis/GROUP/VERSION``) are what every server since
1.0 answers, the aggregated form included; the group versions are read concurrently. A group version that
does not answer (an aggregated API that is down, e.g. metrics.k8s.io) is left out and named, as kubectl
warns ``couldn't get resource list for ...``; the others still work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.kube.errors import KubeError

if TYPE_CHECKING:
    from console.kube.transport import KubeTransport

# What k9s and kubectl users type that discovery does not declare (k9s's own aliases).
EXTRA_ALIASES = {"deploy": "deployments.apps", "rs": "replicasets.apps", "sts": "statefulsets.apps",
                 "ds": "daemonsets.apps", "job": "jobs.batch", "cj": "cronjobs.batch", "crd":
                 "customresourcedefinitions.apiextensions.k8s.io", "ev": "events", "no": "nodes",
                 "np": "networkpolicies.networking.k8s.io", "sa": "serviceaccounts", "sec": "secrets",
                 "pdb": "poddisruptionbudgets.policy"}


@dataclass(frozen=True)
class Resource:
    """One resource type the server serves (a group version's ``APIResource``, subresources excluded)."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def base(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def qualified(self) -> str:
        """``deployments.apps``; ``pods`` for the core group (how kubectl names a type unambiguously)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def name_prefix(self) -> str:
        """The prefix of ``-o name``: ``deployment.apps``, ``pod``."""
        return f"{self.kind.lower()}.{self.group}" if self.group else self.kind.lower()

    def collection(self, namespace: str | None = None) -> str:
        """The collection path: in ``namespace``, or across all namespaces (None) for a namespaced type."""
        if self.namespaced and namespace:
            return f"{self.base}/namespaces/{namespace}/{self.plural}"
        return f"{self.base}/{self.plural}"

    def item(self, name: str, namespace: str | None = None) -> str:
        return f"{self.collection(namespace)}/{name}"

    def can(self, verb: str) -> bool:
        return verb in self.verbs

    @property
    def names(self) -> tuple[str, ...]:
        """Every word that names this type (lower case)."""
        return (self.plural, self.singular or self.kind.lower(), self.kind.lower(), *self.short_names)


@dataclass
class Catalog:
    """The served resource types in kubectl's order of preference: the core group first, then the groups in
    the order ``/apis`` lists them, each group's preferred version before its others."""

    resources: list[Resource] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # group version → why it was not read

    def find(self, word: str) -> Resource:
        """The type ``word`` names: a plural, singular, kind or short name, optionally qualified by its group
        (``deployments.apps``) or by version and group (``deployments.v1.apps``). Raises KubeError 404 with
        kubectl's wording when nothing matches."""
        text = word.strip().lower()
        text = EXTRA_ALIASES.get(text, text)
        for candidate in self._candidates(text):
            return candidate
        raise KubeError(404, "NotFound", f'the server doesn\'t have a resource type "{word}"')

    def _candidates(self, text: str) -> Iterable[Resource]:
        name, _, rest = text.partition(".")
        for r in self.resources:  # unqualified: any group, in preference order
            if text in r.names:
                yield r
        if not rest:
            return
        for r in self.resources:  # NAME.GROUP, then NAME.VERSION.GROUP
            if name in r.names and (rest == r.group or rest == f"{r.version}.{r.group}"):
                yield r

    def words(self) -> list[str]:
        """Every word :meth:`find` accepts, for completion (plurals and short names first)."""
        seen: dict[str, None] = {}
        for r in self.resources:
            for w in (r.plural, *r.short_names):
                seen.setdefault(w)
        for alias in EXTRA_ALIASES:
            seen.setdefault(alias)
        for r in self.resources:
            seen.setdefault(r.qualified)
        return list(seen)

    def listable(self) -> list[Resource]:
        """One entry per type that can be listed (its preferred version), as ``kubectl api-resources``."""
        out: dict[tuple[str, str], Resource] = {}
        for r in self.resources:
            if r.can("list"):
                out.setdefault((r.group, r.plural), r)
        return list(out.values())


def _resources(group_version: str, body: dict[str, Any]) -> list[Resource]:
    group, _, version = group_version.rpartition("/")
    out = []
    for entry in body.get("resources") or []:
        plural = str(entry.get("name") or "")
        if not plural or "/" in plural:  # subresources (pods/log, deployments/scale) are not types
            continue
        out.append(Resource(group=group, version=version, plural=plural,
                            singular=str(entry.get("singularName") or ""), kind=str(entry.get("kind") or ""),
                            namespaced=bool(entry.get("namespaced")), verbs=tuple(entry.get("verbs") or ()),
                            short_names=tuple(s.lower() for s in entry.get("shortNames") or ()),
                            categories=tuple(entry.get("categories") or ())))
    return out


async def discover(transport: KubeTransport) -> Catalog:
    """Read the discovery documents. Raises KubeError only when the core documents cannot be read (the
    server is unreachable, or credentials are refused); a failing group version is recorded in ``failed``."""
    core_versions, groups = await asyncio.gather(transport.get("/api"), transport.get("/apis"))
    order: list[str] = [f"{v}" for v in core_versions.get("versions") or ["v1"]]
    for g in groups.get("groups") or []:
        preferred = (g.get("preferredVersion") or {}).get("groupVersion")
        versions = [v.get("groupVersion") for v in g.get("versions") or [] if v.get("groupVersion")]
        order += [gv for gv in [preferred, *versions] if gv and gv not in order]

    async def read(gv: str) -> dict[str, Any] | KubeError:
        path = f"/api/{gv}" if "/" not in gv else f"/apis/{gv}"
        try:
            return await transport.get(path)
        except KubeError as exc:
            if exc.code in (0, 401):
                raise
            return exc

    answers = await asyncio.gather(*(read(gv) for gv in order))
    catalog = Catalog()
    for gv, answer in zip(order, answers, strict=True):
        if isinstance(answer, KubeError):
            catalog.failed[gv] = answer.message
        else:
            catalog.resources += _resources(gv, answer)
    return catalog
