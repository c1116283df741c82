"""What a call to the Kubernetes API can go wrong with, and which cluster it was sent to (no credentials)."""

from __future__ import annotations

from dataclasses import dataclass


class KubeError(Exception):
    """An API call that failed; ``code`` is the HTTP status (0 when the server was unreachable or the
    kubeconfig unusable; 401 also when no credential could be had, e.g. a failing exec plugin)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    @property
    def unreachable(self) -> bool:
        return self.code == 0


@dataclass(frozen=True)
class KubeTarget:
    """Which cluster, as the kubeconfig says (never holds credentials)."""

    context: str
    user: str
    server: str
    namespace: str
