"""The official ``kubernetes.aio`` client's config loaders and ApiClient, imported without the rest of the package.

``import kubernetes.aio.config`` runs ``kubernetes/__init__.py`` and ``kubernetes/aio/__init__.py`` first, and
they import everything: the synchronous client's config loaders, the dynamic clients (which load
kubernetes-validate's schemas), watch, stream (websocket), leader election and informers. That is ~0.3 s of CPU
before ``llmctl status`` sends a request, for code it never calls: the console reads raw JSON through
``ApiClient.call_api``. (The clients' own ``client`` and ``models`` packages load their ~2,000 names lazily
already.)

So those two package ``__init__`` modules are *deferred* (PEP 562): each is registered in ``sys.modules`` as its
real, not yet executed module (its own spec, ``__path__`` and file), so its submodules import as usual. An
attribute asked of it is served lazily: a submodule is imported, and anything else (``__version__``) runs the
real ``__init__`` in place, after which the module is exactly what a plain import makes. Code elsewhere that
imports ``kubernetes`` (tests, plugins) sees the complete package. Nothing is deferred when the package was
imported already.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

# The packages on the path to the loaders and the ApiClient whose __init__ imports the world (the clients'
# own ``client`` and ``models`` packages load their ~2,000 names lazily already).
DEFERRED = ("kubernetes", "kubernetes.aio")
_lock = threading.RLock()


def _defer(name: str) -> None:
    """Register the package ``name`` unexecuted, with a module ``__getattr__`` that completes it on demand."""
    spec = importlib.util.find_spec(name)  # its parent is in sys.modules already: nothing is executed here
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an importable package")
    module = importlib.util.module_from_spec(spec)

    def complete() -> None:
        module.__dict__.pop("__getattr__", None)
        spec.loader.exec_module(module)  # type: ignore[union-attr]

    def __getattr__(attr: str) -> Any:
        with _lock:
            if not attr.startswith("__") and importlib.util.find_spec(f"{name}.{attr}") is not None:
                return importlib.import_module(f"{name}.{attr}")  # the import binds it on the module too
            if "__getattr__" in module.__dict__:  # __version__ or a name only the real __init__ binds
                complete()
        if attr in module.__dict__:
            return module.__dict__[attr]
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def kubernetes_aio() -> types.ModuleType:
    """``kubernetes.aio`` with its config loaders and ApiClient imported (and nothing else until asked for)."""
    with _lock:
        if "kubernetes" not in sys.modules:
            for name in DEFERRED:
                _defer(name)
        importlib.import_module("kubernetes.aio.config.kube_config")
        importlib.import_module("kubernetes.aio.client.api_client")
        return sys.modules["kubernetes.aio"]
