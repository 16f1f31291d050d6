"""umap-learn, imported with numba's on-disk cache on for its compiled functions.

umap-learn marks only one of its numba functions ``cache=True``, so every new process that draws
a map (``workbench demo``, a notebook kernel, a dashboard server, a Dask client) compiles the rest
again on its first projection: 9.6 s of a 500-point map on an idle 2-core machine, 20 to 45 s under
load, for 0.7 s of real work. :func:`import_umap` imports it with ``cache=True`` as the default
of ``numba.njit`` and ``numba.jit`` while its modules are decorated, so the compiled functions are
written once to numba's cache (beside the package, or numba's user cache folder when that one is
read-only; ``NUMBA_CACHE_DIR`` wins) and loaded by every later process. (Where numba finds no
folder it may write to, umap-learn does not import as it ships either: its ``rdist`` asks for
the cache itself.) Only the decorations made
by that import are changed: a function that says ``cache=False`` keeps it, and a module that was
imported before (by you) is used as it is. Numbers are in ``benchmarks/RESULTS.md`` ("The map's
first projection in a new process").
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

_IMPORT_LOCK = threading.Lock()


def _cached_by_default(decorator):
    """``decorator`` (``numba.njit`` or ``numba.jit``) with ``cache=True`` unless it is given."""
    def with_cache(*args, **kwargs):
        kwargs.setdefault("cache", True)
        return decorator(*args, **kwargs)

    with_cache.__wrapped__ = decorator
    return with_cache


def import_umap() -> ModuleType:
    """The ``umap`` module, its compiled functions cached on disk (see the module docstring)."""
    if "umap" in sys.modules:
        return sys.modules["umap"]
    with _IMPORT_LOCK:
        if "umap" in sys.modules:
            return sys.modules["umap"]
        import numba

        njit, jit = numba.njit, numba.jit
        numba.njit, numba.jit = _cached_by_default(njit), _cached_by_default(jit)
        try:
            import umap
        finally:
            numba.njit, numba.jit = njit, jit
    return umap
