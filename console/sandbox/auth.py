"""Who is calling the sandbox API and what they may do: credentials → users → allowed verbs.

Four users, like a cluster with RBAC set up for an administrator, a read-only observer and a team:
the admin may do anything (``cluster-admin``); the viewer has a ClusterRoleBinding to the built-in ``view``
ClusterRole and exactly its rules — ``get``/``list``/``watch`` on the namespaced workload resources, pods,
their logs, events, services, config maps, service accounts, namespaces, the Prometheus Operator's
kinds (aggregated into ``view`` as kube-prometheus-stack does with its aggregate roles on), but not nodes,
not secrets, and no writes (403 Forbidden with the API server's own wording); the operator may do anything inside
namespace ``llm`` and nothing outside it — no nodes, no cluster-wide pod list — as a team with a
RoleBinding to ``edit`` in its own namespace; the developer has both the viewer's ClusterRoleBinding to
``view`` and the operator's RoleBinding to ``edit`` in ``llm`` — the common setup of a team that sees the whole
cluster and changes its own namespace (a request is allowed when any of a user's bindings allows it, as the RBAC
authorizer unions them). Every user may ask what it may do (access reviews) and who it is
(SelfSubjectReview). Tokens are random per sandbox run and never logged.

Service-account tokens (TokenRequest, ``kubectl create token``) authenticate as
``system:serviceaccount:<namespace>:<name>``, a user with no role bound.

Besides these static tokens, the sandbox authenticates the two other ways clients reach real clusters:
short-lived tokens as exec plugins fetch them (:class:`TokenIssuer`; a token names one of the users above,
as an EKS token names an IAM role mapped to a user) and client certificates signed by the sandbox's client
CA (CN → user name, O → groups, as kube-apiserver's x509 authenticator reads them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ApiError

ADMIN = "sandbox-admin"
VIEWER = "sandbox-viewer"
OPERATOR = "sandbox-llm-operator"
DEVELOPER = "sandbox-llm-developer"
OPERATOR_NAMESPACE = "llm"
USERS = (ADMIN, VIEWER, OPERATOR, DEVELOPER)
READ_VERBS = frozenset({"get", "list", "watch"})
ALL_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"})
# The sandbox's own endpoints (faults) live in this pseudo API group: admin only.
SANDBOX_GROUP = "sandbox.llmctl.dev"
# The read rules of the built-in ``view`` ClusterRole (system:aggregate-to-view, Kubernetes v1.30), as
# (API group, resource or resource/subresource); every one with the verbs get, list and watch.
VIEW_RULES: frozenset[tuple[str, str]] = frozenset(
    [("", r) for r in (
        "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
        "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status",
        "bindings", "events", "limitranges", "namespaces", "namespaces/status", "pods/log", "pods/status",
        "replicationcontrollers/status", "resourcequotas", "resourcequotas/status")]
    + [("apps", r) for r in (
        "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
        "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets",
        "statefulsets/scale", "statefulsets/status")]
    + [("autoscaling", r) for r in ("horizontalpodautoscalers", "horizontalpodautoscalers/status")]
    + [("batch", r) for r in ("cronjobs", "cronjobs/status", "jobs", "jobs/status")]
    + [("extensions", r) for r in (
        "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "ingresses",
        "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status",
        "replicationcontrollers/scale")]
    + [("policy", r) for r in ("poddisruptionbudgets", "poddisruptionbudgets/status")]
    + [("networking.k8s.io", r) for r in ("ingresses", "ingresses/status", "networkpolicies")]
    + [("discovery.k8s.io", "endpointslices")]
    # Not the Prometheus Operator's kinds: kube-prometheus-stack aggregates them into view only when installed
    # with ``global.rbac.createAggregateClusterRoles: true``, and its default is false.
)
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    verbs: frozenset[str]
    namespaces: frozenset[str] | None = None  # None: cluster-wide; else only inside these namespaces
    rules: frozenset[tuple[str, str]] | None = None  # None: any resource; else only these (group, resource)
    also: tuple[User, ...] = ()  # the user's further bindings (each as verbs, namespaces and rules)

    @property
    def bindings(self) -> tuple[User, ...]:
        return (self, *self.also)

    @property
    def is_admin(self) -> bool:
        return self.verbs >= ALL_VERBS and self.namespaces is None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Short-lived bearer tokens, like the ones cloud exec plugins fetch (``aws eks get-token`` signs an STS
    URL valid for 15 minutes; ``gke-gcloud-auth-plugin`` and kubelogin hand out OAuth tokens valid for
    about an hour): the user name and the expiry, signed with a secret. The secret is shared with the
    exec plugin through a 0600 file (:meth:`save`), as a cloud CLI reads its local credentials; the
    server accepts a token until its expiry and answers 401 after it."""

    PREFIX = "sandbox-exec."

    def __init__(self, secret: bytes, ttl: float) -> None:
        self._secret = secret
        self.ttl = ttl

    @classmethod
    def create(cls, ttl: float) -> TokenIssuer:
        return cls(secrets.token_bytes(32), ttl)

    def __repr__(self) -> str:  # never show the secret
        return f"TokenIssuer(ttl={self.ttl:g})"

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def mint(self, user: str, now: float | None = None) -> tuple[str, int]:
        """A token for ``user`` and its expiry (Unix seconds, whole: ExecCredential timestamps are)."""
        expiry = int((time.time() if now is None else now) + max(1.0, self.ttl))
        payload = f"{user}\n{expiry}".encode()
        return f"{self.PREFIX}{_b64(payload)}.{_b64(self._sign(payload))}", expiry

    def verify(self, token: str, now: float | None = None) -> tuple[str | None, bool]:
        """(user, expired) of a token this issuer signed; (None, False) for anything else."""
        if not token.startswith(self.PREFIX):
            return None, False
        try:
            body, sig = token[len(self.PREFIX):].split(".", 1)
            payload = _unb64(body)
            if not hmac.compare_digest(self._sign(payload), _unb64(sig)):
                return None, False
            user, expiry = payload.decode().rsplit("\n", 1)
            return user, (time.time() if now is None else now) >= int(expiry)
        except (ValueError, UnicodeDecodeError):
            return None, False

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the secret and TTL to ``path`` (mode 0600, created so before the secret is written)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"secret": _b64(self._secret), "ttl": self.ttl}, fh)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TokenIssuer:
        doc: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(_unb64(doc["secret"]), float(doc["ttl"]))


class Authenticator:
    """Maps credentials (bearer tokens, issued short-lived tokens, client certificates) to users and
    answers RBAC-style questions about them."""

    def __init__(self, tokens: dict[str, User]) -> None:
        self._tokens = dict(tokens)
        self._by_name = {u.name: t for t, u in self._tokens.items()}
        self.issuer: TokenIssuer | None = None  # short-lived tokens for exec plugins, when the server has one
        self._sa_key = secrets.token_bytes(32)  # signs service-account tokens (TokenRequest)
        self.expired = 0  # issued tokens refused because they had expired (tests read it)

    @classmethod
    def create(cls, admin_token: str | None = None, viewer_token: str | None = None,
               operator_token: str | None = None, developer_token: str | None = None) -> Authenticator:
        """Tokens for the admin, the viewer, the operator and the developer: fresh random ones unless given (a
        restarted sandbox keeps the credentials of its kubeconfig, so clients reconnect as on a real cluster)."""
        groups = ("system:authenticated",)
        admin = User(ADMIN, ("system:masters", *groups), ALL_VERBS)
        viewer = User(VIEWER, groups, READ_VERBS, rules=VIEW_RULES)
        operator = User(OPERATOR, groups, ALL_VERBS, frozenset({OPERATOR_NAMESPACE}))
        developer = User(DEVELOPER, groups, READ_VERBS, rules=VIEW_RULES,
                         also=(User(DEVELOPER, groups, ALL_VERBS, frozenset({OPERATOR_NAMESPACE})),))
        return cls({admin_token or secrets.token_urlsafe(32): admin, viewer_token or secrets.token_urlsafe(32): viewer,
                    operator_token or secrets.token_urlsafe(32): operator,
                    developer_token or secrets.token_urlsafe(32): developer})

    def __repr__(self) -> str:  # never show tokens, even in a traceback or debugger
        return f"Authenticator(users={sorted(self._by_name)})"

    @property
    def admin_token(self) -> str:
        return self._by_name[ADMIN]

    @property
    def viewer_token(self) -> str:
        return self._by_name[VIEWER]

    def token_for(self, user_name: str) -> str:
        return self._by_name[user_name]

    def user(self, user_name: str) -> User:
        return self._tokens[self._by_name[user_name]]

    def authenticate(self, authorization: str | None) -> User | None:
        """The user for an ``Authorization: Bearer <token>`` header value, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        token = token.strip()
        for known, user in self._tokens.items():
            if hmac.compare_digest(known, token):  # constant time: tokens are secrets
                return user
        if self.issuer is not None:
            name, expired = self.issuer.verify(token)
            if name is not None and expired:
                self.expired += 1
            elif name in self._by_name:
                return self.user(name)
        return self._service_account_user(token)

    # ---- service-account tokens (TokenRequest) ---------------------------------------------------------
    def mint_service_account_token(self, namespace: str, name: str, uid: str, audiences: list[str],
                                   expiration_seconds: int, now: float | None = None) -> tuple[str, int]:
        """A JWT as the TokenRequest API issues it (claims as kube's, HS256-signed by the sandbox rather than
        RS256 by the cluster's key) and its expiry (Unix seconds)."""
        issued = int(time.time() if now is None else now)
        expiry = issued + expiration_seconds
        claims = {"aud": audiences, "exp": expiry, "iat": issued, "iss": "https://kubernetes.default.svc.cluster.local",
                  "nbf": issued, "sub": f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
                  "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._sa_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(sig)}", expiry

    def _service_account_user(self, token: str) -> User | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            sig = hmac.new(self._sa_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(sig, _unb64(parts[2])):
                return None
            claims = json.loads(_unb64(parts[1]))
            if time.time() >= int(claims["exp"]):
                self.expired += 1
                return None
            namespace = claims["kubernetes.io"]["namespace"]
            name = claims["sub"]
        except (ValueError, KeyError, TypeError):
            return None
        return User(name, ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
                    frozenset())

    def authenticate_certificate(self, peercert: dict[str, Any] | None) -> User | None:
        """The user of a verified client certificate (``ssl`` ``getpeercert()``: the TLS layer has checked
        it against the client CA): CN is the user name, each O a group — kube-apiserver's x509 rule."""
        subject = (peercert or {}).get("subject") or ()
        attrs = [pair for rdn in subject for pair in rdn]
        names = [value for key, value in attrs if key == "commonName"]
        if not names:
            return None
        return self.certificate_user(names[0], tuple(value for key, value in attrs if key == "organizationName"))

    def certificate_user(self, name: str, groups: tuple[str, ...]) -> User:
        """What a certificate's user may do: group ``system:masters`` anything (as on every cluster); the name
        of one of the sandbox's users what that user may (as if bound by the same RoleBinding); else
        nothing but access reviews — authenticated, but with no role bound, so every read is 403."""
        groups = (*groups, "system:authenticated")
        if "system:masters" in groups:
            return User(name, groups, ALL_VERBS)
        if name in self._by_name:
            known = self.user(name)
            return User(name, groups, known.verbs, known.namespaces, known.rules, known.also)
        return User(name, groups, frozenset())

    def allowed(
        self,
        user: User,
        verb: str,
        resource: str,
        namespace: str | None = None,
        subresource: str | None = None,
        group: str = "",
    ) -> bool:
        """Whether ``user`` may ``verb`` the resource: by verb, and for a namespace-bound user only inside
        its namespaces (a cluster-scoped or all-namespaces request is outside). Subresources follow
        their resource."""
        if group == SANDBOX_GROUP:
            return user.is_admin
        if (group, resource) in (("authorization.k8s.io", "selfsubjectaccessreviews"),
                                 ("authorization.k8s.io", "selfsubjectrulesreviews"),
                                 ("authentication.k8s.io", "selfsubjectreviews")):
            return verb == "create"  # system:basic-user: everyone may ask
        return self.binding(user, verb, resource, namespace, subresource, group) is not None

    @staticmethod
    def binding(user: User, verb: str, resource: str, namespace: str | None = None,
                subresource: str | None = None, group: str = "") -> User | None:
        """The first of ``user``'s bindings that allows the request, or None (RBAC allows what any binding
        allows)."""
        full = f"{resource}/{subresource}" if subresource else resource
        for grant in user.bindings:
            if grant.namespaces is not None and namespace not in grant.namespaces:
                continue
            if grant.rules is not None and (group, full) not in grant.rules and ("*", "*") not in grant.rules:
                continue
            if verb in grant.verbs:
                return grant
        return None

    def resource_rules(self, user: User, namespace: str | None) -> list[dict[str, Any]]:
        """The resource rules of a SelfSubjectRulesReview (``kubectl auth can-i --list``) in ``namespace``."""
        rules: list[dict[str, Any]] = [
            {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
             "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
            {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]}]
        granted: list[dict[str, Any]] = []
        for grant in user.bindings:
            if not grant.verbs or (grant.namespaces is not None and namespace not in grant.namespaces):
                continue
            verbs = sorted(grant.verbs)
            if grant.rules is None:
                granted.append({"verbs": verbs, "apiGroups": ["*"], "resources": ["*"]})
                continue
            by_group: dict[str, list[str]] = {}
            for group, resource in sorted(grant.rules):
                by_group.setdefault(group, []).append(resource)
            granted += ({"verbs": verbs, "apiGroups": [g], "resources": rs} for g, rs in by_group.items())
        return [*granted, *rules]

    def reason(self, user: User, verb: str, allowed: bool) -> str:
        """The ``status.reason`` of an access review, worded like the RBAC authorizer's (``user``: the binding
        that allowed it, see :meth:`binding`)."""
        if not allowed:
            return ""
        if user.namespaces is not None:
            return f'RBAC: allowed by RoleBinding "{user.name}" of ClusterRole "edit" to User "{user.name}"'
        if user.name.startswith(SERVICE_ACCOUNT_PREFIX):
            return ""
        role = "cluster-admin" if user.is_admin else "view"
        return f'RBAC: allowed by ClusterRoleBinding "{user.name}" of ClusterRole "{role}" to User "{user.name}"'


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(
    user: User,
    verb: str,
    resource: str,
    group: str,
    namespace: str | None,
    name: str | None = None,
    subresource: str | None = None,
) -> ApiError:
    """403 with kube-apiserver's wording, e.g. ``deployments.apps "x" is forbidden: User "v" cannot
    patch resource "deployments/scale" in API group "apps" in the namespace "llm"``."""
    qualified = f"{resource}.{group}" if group else resource
    subject = f'{qualified} "{name}"' if name else qualified
    full = f"{resource}/{subresource}" if subresource else resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (f'{subject} is forbidden: User "{user.name}" cannot {verb} resource "{full}" '
               f'in API group "{group}" {scope}')
    return ApiError(403, "Forbidden", message, kind=resource, name=name or None, group=group or None)
