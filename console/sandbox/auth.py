"""Who is calling the sandbox API and what they may do: bearer tokens → users → allowed verbs.

Three users, like a cluster with RBAC set up for an administrator, a read-only observer and a team:
the admin may do anything; the viewer only ``get``/``list``/``watch`` (so the console can show what a
read-only person sees: 403 Forbidden with the API server's own wording); the operator may do anything
inside namespace ``llm`` and nothing outside it — no nodes, no cluster-wide pod list — as a team with a
RoleBinding to ``edit`` in its own namespace. Every user may ask what it may do (access reviews).
Tokens are random per sandbox run and never logged.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from .errors import ApiError

ADMIN = "sandbox-admin"
VIEWER = "sandbox-viewer"
OPERATOR = "sandbox-llm-operator"
OPERATOR_NAMESPACE = "llm"
USERS = (ADMIN, VIEWER, OPERATOR)
READ_VERBS = frozenset({"get", "list", "watch"})
ALL_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"})
# The sandbox's own endpoints (faults) live in this pseudo API group: admin only.
SANDBOX_GROUP = "sandbox.llmctl.dev"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    verbs: frozenset[str]
    namespaces: frozenset[str] | None = None  # None: cluster-wide; else only inside these namespaces

    @property
    def is_admin(self) -> bool:
        return self.verbs >= ALL_VERBS and self.namespaces is None


class Authenticator:
    """Maps bearer tokens to users and answers RBAC-style questions about them."""

    def __init__(self, tokens: dict[str, User]) -> None:
        self._tokens = dict(tokens)
        self._by_name = {u.name: t for t, u in self._tokens.items()}

    @classmethod
    def create(cls, admin_token: str | None = None, viewer_token: str | None = None,
               operator_token: str | None = None) -> Authenticator:
        """Tokens for the admin, the viewer and the operator: fresh random ones unless given (a restarted
        sandbox keeps the credentials of its kubeconfig, so clients reconnect as on a real cluster)."""
        admin = User(ADMIN, ("system:masters", "system:authenticated"), ALL_VERBS)
        viewer = User(VIEWER, ("system:authenticated",), READ_VERBS)
        operator = User(OPERATOR, ("system:authenticated",), ALL_VERBS, frozenset({OPERATOR_NAMESPACE}))
        return cls({admin_token or secrets.token_urlsafe(32): admin, viewer_token or secrets.token_urlsafe(32): viewer,
                    operator_token or secrets.token_urlsafe(32): operator})

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
        return None

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
        if group == "authorization.k8s.io" and resource in ("selfsubjectaccessreviews", "selfsubjectrulesreviews"):
            return verb == "create"  # system:basic-user: everyone may ask
        if user.namespaces is not None and namespace not in user.namespaces:
            return False
        return verb in user.verbs

    def reason(self, user: User, verb: str, allowed: bool) -> str:
        """The ``status.reason`` of an access review, worded like the RBAC authorizer's."""
        if not allowed:
            return ""
        if user.namespaces is not None:
            return f'RBAC: allowed by RoleBinding "{user.name}" of ClusterRole "edit" to User "{user.name}"'
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
