"""Who-am-I and tokens: ``SelfSubjectReview`` (authentication.k8s.io/v1, what ``kubectl auth whoami`` asks)
and the ``serviceaccounts/token`` subresource (``TokenRequest``, what ``kubectl create token`` posts).

A TokenRequest for an existing ServiceAccount answers 201 with a signed token for
``system:serviceaccount:<namespace>:<name>`` valid ``expirationSeconds`` (default 3600, at least 600), for
the API server's audience unless others are asked for. The token authenticates to the sandbox (a user with
no role bound: every read is 403, access reviews work).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from . import schema
from .api_decode import check_type_meta, decode_typed
from .api_validate import FieldError, invalid_error
from .auth import Authenticator, User
from .context import SandboxContext
from .errors import bad_request

Obj = dict[str, Any]
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 2**32


def self_subject_review(user: User, body: Any) -> tuple[Obj, int]:
    """The answer to ``POST /apis/authentication.k8s.io/v1/selfsubjectreviews``."""
    check_type_meta(body)
    decode_typed(schema.SELF_SUBJECT_REVIEW, body, "SelfSubjectReview", "authentication.k8s.io/v1")
    info: Obj = {"username": user.name, "groups": list(user.groups)}
    return {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "status": {"userInfo": info}}, 201


def _expiry_timestamp(expiry: int) -> str:
    return datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_request(auth: Authenticator, ctx: SandboxContext, namespace: str, name: str, body: Any
                  ) -> tuple[Obj, int]:
    """Issue a token for ServiceAccount ``namespace/name`` (404 if there is none)."""
    check_type_meta(body)
    if (body.get("apiVersion") or "authentication.k8s.io/v1") != "authentication.k8s.io/v1" or \
            (body.get("kind") or "TokenRequest") != "TokenRequest":
        raise bad_request(f"the kind in the data ({body.get('kind')}) does not match the expected kind "
                          "(TokenRequest)")
    req = decode_typed(schema.TOKEN_REQUEST, body, "TokenRequest", "authentication.k8s.io/v1")
    sa = ctx.store.get("serviceaccounts", namespace, name)
    spec = dict(req.get("spec") or {})
    seconds = spec.get("expirationSeconds")
    seconds = DEFAULT_EXPIRATION if seconds is None else seconds
    if seconds < MIN_EXPIRATION:
        raise invalid_error("TokenRequest", "authentication.k8s.io", name, [FieldError(
            "spec.expirationSeconds", "Invalid", seconds, "may not specify a duration less than 10 minutes")])
    if seconds > MAX_EXPIRATION:
        raise invalid_error("TokenRequest", "authentication.k8s.io", name, [FieldError(
            "spec.expirationSeconds", "Invalid", seconds, "may not specify a duration larger than 2^32 seconds")])
    audiences = list(spec.get("audiences") or [API_AUDIENCE])
    token, expiry = auth.mint_service_account_token(namespace, name, sa["metadata"]["uid"], audiences, seconds,
                                                    time.time())
    spec.update(audiences=audiences, expirationSeconds=seconds)
    spec.setdefault("boundObjectRef", None)
    meta = {"name": name, "namespace": namespace, "creationTimestamp": None}
    return {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": meta, "spec": spec,
            "status": {"token": token, "expirationTimestamp": _expiry_timestamp(expiry)}}, 201

