"""The API server's proxy subresources: ``/api/v1/namespaces/NS/services/[http:]NAME[:PORT]/proxy/PATH`` and
``.../pods/NAME[:PORT]/proxy/PATH``, as kube-apiserver serves them.

Authorization is RBAC's for the ``services/proxy`` (``pods/proxy``) subresource with the verb the HTTP method
maps to (GET/HEAD → get, POST → create, PUT → update, PATCH → patch, DELETE → delete). The built-in ``view``
ClusterRole grants no proxy access (``edit`` and ``admin`` do), so the read-only user is refused here even
for a GET. A Service proxies to one Ready endpoint (503 ``no endpoints available for service "NAME"`` when
none is); a pod proxies to the pod whatever its readiness, and a pod with nothing listening is the API
server's 503 ``error trying to reach service: dial tcp IP:PORT: connect: connection refused``.
"""

from __future__ import annotations

from aiohttp import web

from .auth import Authenticator, User, forbidden
from .context import SandboxContext
from .errors import ApiError, not_found
from .serving import ModelServers
from .store import Obj

PROXY_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
               "DELETE": "delete", "OPTIONS": "options"}


def is_proxy(group: str, rest: list[str]) -> bool:
    """Whether the path segments after ``/api/v1`` name a service or pod proxy."""
    return (group == "" and len(rest) >= 5 and rest[0] == "namespaces" and rest[2] in ("services", "pods")
            and rest[4] == "proxy")


def _split_name(text: str) -> tuple[str, str, str]:
    """``[scheme:]name[:port]`` → (scheme, name, port), as the API server reads a proxy target."""
    parts = text.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", text, ""


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "ServiceUnavailable", message)


def _refused(pod: Obj, port: int | str) -> ApiError:
    ip = (pod.get("status") or {}).get("podIP") or "<none>"
    return _unavailable(f"error trying to reach service: dial tcp {ip}:{port}: connect: connection refused")


async def handle(request: web.Request, ctx: SandboxContext, auth: Authenticator, user: User) -> web.StreamResponse:
    """Serve one proxied request (the path has already been recognised by :func:`is_proxy`)."""
    raw = request.path  # keep the proxied path as sent, trailing slash included
    segments = raw.split("/")  # "", "api", "v1", "namespaces", NS, KIND, NAME, "proxy", ...
    namespace, kind, target = segments[4], segments[5], segments[6]
    sub_path = "/" + "/".join(segments[8:])
    scheme, name, port = _split_name(target)
    verb = PROXY_VERBS.get(request.method)
    if verb is None:
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    # The view role has no */proxy rule: reading users may not proxy (kube's bootstrap policy).
    grant = auth.binding(user, verb, kind, namespace, "proxy", "")
    may = grant is not None and "create" in grant.verbs
    if not may:
        raise forbidden(user, verb, kind, "", namespace, name, "proxy")
    servers = ModelServers.of(ctx)
    if kind == "services":
        pod, pod_port = _service_endpoint(ctx, servers, namespace, name, port)
    else:
        pod = ctx.store.try_get("pods", namespace, name)
        if pod is None:
            raise not_found("pods", name)
        pod_port = _pod_port(pod, port)
    if scheme == "https":  # the model servers speak plain HTTP
        raise _unavailable("error trying to reach service: tls: first record does not look like a TLS handshake")
    if not servers.listens(pod, pod_port):
        raise _refused(pod, pod_port)
    response = await servers.serve(request, pod, sub_path)
    if response is None:
        raise _refused(pod, pod_port)
    return response


def _service_endpoint(ctx: SandboxContext, servers: ModelServers, namespace: str, name: str,
                      port: str) -> tuple[Obj, int]:
    svc = ctx.store.try_get("services", namespace, name)
    if svc is None:
        raise not_found("services", name)
    spec = svc.get("spec") or {}
    ports = spec.get("ports") or []
    def wanted(p: Obj) -> bool:
        if port:
            return port in (p.get("name"), str(p.get("port")))
        return not p.get("name") or len(ports) == 1

    chosen = next((p for p in ports if wanted(p)), None)
    selector = spec.get("selector") or {}
    shown = f"{name}:{port}" if port else name
    if chosen is None or not selector:
        raise _unavailable(f'no endpoints available for service "{shown}"')
    pods = servers.ready_pods(namespace, selector)
    if not pods:
        raise _unavailable(f'no endpoints available for service "{shown}"')
    pod = servers.pick(pods)
    return pod, _target_port(pod, chosen.get("targetPort", chosen.get("port")))


def _target_port(pod: Obj, target: int | str | None) -> int:
    """A Service's targetPort on a pod: a number, or the name of one of its container ports."""
    if isinstance(target, int):
        return target
    for c in pod["spec"].get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target:
                return int(p.get("containerPort") or 0)
    try:
        return int(str(target))
    except ValueError:
        return 0


def _pod_port(pod: Obj, port: str) -> int:
    if not port:  # no port: the pod's first declared port
        for c in pod["spec"].get("containers") or []:
            for p in c.get("ports") or []:
                return int(p.get("containerPort") or 0)
        return 80
    return _target_port(pod, int(port) if port.isdigit() else port)
