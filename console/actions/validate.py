"""Input validation for the actions: runs before anything is sent, so bad input changes nothing.

Every check raises :class:`ActionError` with code 2 and a message that says what is expected and
what was given (the TUI shows it under the form; the CLI prints it and exits 2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_REPLICAS = 1000
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ROLLOUT_FAILED = 0, 1, 2, 3


class ActionError(Exception):
    """An action that cannot go ahead. ``code``: 2 invalid input, 1 refused/forbidden/failed,
    3 the rollout failed — the CLI's exit codes."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _whole_number(value: int | str | None, what: str, low: int, high: int) -> int:
    """An integer in [low, high] from an int or its decimal text; bools, floats and words refused."""
    text = str(value).strip() if value is not None else ""
    expected = f"{what} must be an integer from {low} to {high}, not {text or 'nothing'!r}"
    if isinstance(value, bool) or not re.fullmatch(r"[+-]?[0-9]{1,9}", text):  # ASCII digits: int() takes "٣"
        raise ActionError(EXIT_USAGE, expected)
    number = int(text)
    if not low <= number <= high:
        raise ActionError(EXIT_USAGE, expected)
    return number


# A Deployment's or HPA's name: a DNS-1123 subdomain (what the API server accepts for both).
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def check_name(value: str | None, kind: str = "deployment") -> str:
    """An object name as the API accepts it (lowercase letters, digits, '-' and '.', at most 253), else
    ActionError(2) — before anything is sent: an empty name would address the whole collection."""
    text = value if isinstance(value, str) else ""
    if not text:
        raise ActionError(EXIT_USAGE, f"a {kind} name is needed, not an empty one")
    if len(text) > 253 or not _SUBDOMAIN.fullmatch(text):
        raise ActionError(EXIT_USAGE, f"invalid {kind} name {text!r}: lowercase letters, digits, '-' and '.', "
                                      "starting and ending with a letter or digit (at most 253)")
    return text


_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def check_namespace(value: str | None) -> str:
    """A namespace name as the API accepts it (a DNS-1123 label: lowercase letters, digits and '-', at most 63),
    else ActionError(2): it goes into request paths."""
    text = value if isinstance(value, str) else ""
    if len(text) > 63 or not _LABEL.fullmatch(text):
        raise ActionError(EXIT_USAGE, f"invalid namespace {text!r}: lowercase letters, digits and '-', starting and "
                                      "ending with a letter or digit (at most 63)")
    return text


def parse_replicas(value: int | str) -> int:
    """Replicas for a scale: an integer from 0 to 1000."""
    return _whole_number(value, "replicas", 0, MAX_REPLICAS)


def parse_revision(value: int | str | None) -> int | None:
    """A revision to roll back to: None/"" for the previous one, else a positive integer."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _whole_number(value, "revision", 1, 2**31 - 1)


def parse_hpa(min_replicas: int | str | None, max_replicas: int | str | None,
              cpu_target: int | str | None) -> tuple[int | None, int | None, int | None]:
    """(min, max, CPU %) as given, None meaning "keep": 1 ≤ min ≤ max ≤ 1000, CPU 1–100."""
    blank = (None, "")
    low = None if min_replicas in blank else _whole_number(min_replicas, "minReplicas", 1, MAX_REPLICAS)
    high = None if max_replicas in blank else _whole_number(max_replicas, "maxReplicas", 1, MAX_REPLICAS)
    cpu = None if cpu_target in blank else _whole_number(cpu_target, "CPU target (percent)", 1, 100)
    if low is None and high is None and cpu is None:
        raise ActionError(EXIT_USAGE, "nothing to change: give minReplicas, maxReplicas or a CPU target")
    check_hpa_range(low, high)
    return low, high, cpu


def check_hpa_range(low: int | None, high: int | None) -> None:
    """minReplicas must not exceed maxReplicas (checked again against the live HPA for a one-sided edit)."""
    if low is not None and high is not None and low > high:
        raise ActionError(EXIT_USAGE, f"minReplicas ({low}) must not exceed maxReplicas ({high})")


# ---- image references (github.com/distribution/reference grammar) --------------------------------
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|-+)"
PATH_COMPONENT = re.compile(rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
NAME_MAX = 255


def image_reference_problem(ref: str) -> str | None:
    """Why ``ref`` is not a valid image reference (``[host[:port]/]path[:tag][@sha256:hex]``), or None.

    Strict on purpose: a typo here would otherwise surface minutes later as ImagePullBackOff
    (InvalidImageName) in the middle of a rollout.
    """
    if not ref:
        return "the image must not be empty"
    if any(ch.isspace() for ch in ref):
        return f"invalid image reference {ref!r}: it must not contain spaces"
    rest, _, digest = ref.partition("@")
    if "@" in ref and not DIGEST.fullmatch(digest):
        return f"invalid image reference {ref!r}: the digest must be sha256: and 64 lowercase hex digits"
    name, tag = rest, None
    colon, slash = rest.rfind(":"), rest.rfind("/")
    if colon > slash:
        name, tag = rest[:colon], rest[colon + 1:]
        if not TAG.fullmatch(tag):
            return (f"invalid image reference {ref!r}: the tag {tag!r} must be 1–128 letters, digits, '_', '.' "
                    "or '-', not starting with '.' or '-'")
    if not name:
        return f"invalid image reference {ref!r}: the repository name is missing"
    if len(name) > NAME_MAX:
        return f"invalid image reference: the repository name is longer than {NAME_MAX} characters"
    parts = name.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not DOMAIN.fullmatch(first):
            return f"invalid image reference {ref!r}: {first!r} is not a valid registry host[:port]"
        parts = parts[1:]
    for part in parts:
        if PATH_COMPONENT.fullmatch(part):
            continue
        if PATH_COMPONENT.fullmatch(part.lower()):
            return f"invalid image reference {ref!r}: the repository name must be lowercase"
        return (f"invalid image reference {ref!r}: {part or '(empty)'!r} is not a valid repository path "
                "component (lowercase letters and digits, separated by '.', '_', '__' or '-')")
    return None


def check_image_reference(ref: str) -> str:
    """``ref`` stripped of surrounding blanks, or ActionError(2) saying what is wrong with it."""
    ref = ref.strip()
    problem = image_reference_problem(ref)
    if problem:
        raise ActionError(EXIT_USAGE, problem)
    return ref


def split_image_spec(spec: str) -> tuple[str | None, str]:
    """``[container=]image`` → (container or None, image), the image checked."""
    container, sep, image = spec.strip().partition("=")
    if not sep:
        return None, check_image_reference(container)
    if not container.strip():
        raise ActionError(EXIT_USAGE, f"missing container name before '=' in {spec!r}")
    return container.strip(), check_image_reference(image)


def pick_container(containers: Sequence[str], wanted: str | None, deployment: str) -> str:
    """The container to change: the named one, or the only one when none is named."""
    if wanted is not None:
        if wanted not in containers:
            raise ActionError(EXIT_USAGE, f'deployment "{deployment}" has no container "{wanted}"; '
                                          f"containers: {', '.join(containers) or 'none'}")
        return wanted
    if len(containers) == 1:
        return containers[0]
    raise ActionError(EXIT_USAGE, f'deployment "{deployment}" has {len(containers)} containers: name one as '
                                  f"CONTAINER=IMAGE (containers: {', '.join(containers)})")
