"""The sandbox's hard limits, each the real API server's (or as close as Python allows); see api_decode."""

from __future__ import annotations

MiB = 1024 * 1024
MAX_BODY_BYTES = 3 * MiB  # kube-apiserver's maxRequestBodyBytes: 413 above it
MAX_OBJECT_BYTES = int(1.5 * MiB)  # etcd's default --max-request-bytes: no stored object may be larger
MAX_DEPTH = 100  # JSON nesting levels accepted in a body (Go's decoder: 10,000; Python's stack: see api_decode)
MAX_JSON_PATCH_OPS = 10_000  # kube-apiserver's maxJSONPatchOperations

# The watch history (what a watch can resume from before it gets 410 Gone) is bounded twice: by events
# and by the bytes of the objects it keeps alive (a superseded or deleted object lives on only there).
HISTORY_EVENTS = 20_000
HISTORY_BYTES = 32 * MiB
