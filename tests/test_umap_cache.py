"""The map's UMAP compiles once per machine, not once per process: ``import_umap`` turns numba's
on-disk cache on for umap-learn's compiled functions, and a second process loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, warnings
import numpy as np
from workbench.embeddings.umap_loader import import_umap
umap = import_umap()
import umap.layouts as layouts
warnings.simplefilter("ignore")
x = np.random.default_rng(0).normal(size=(60, 16)).astype(np.float32)
umap.UMAP(n_components=2, metric="cosine", random_state=0, n_neighbors=5).fit_transform(x)
f = layouts._nb_optimize_layout_euclidean_single_epoch
print(json.dumps({"cache": type(f._cache).__name__, "hits": sum(f.stats.cache_hits.values()),
                  "misses": sum(f.stats.cache_misses.values()), "path": f._cache.cache_path}))
"""


def _probe(env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_the_compiled_layout_instead_of_compiling_it():
    """numba's own cache folder (beside umap-learn, or ``NUMBA_CACHE_DIR``): the first process
    compiles and stores (or, when an earlier one did, loads); the next one only loads."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = _probe(env)
    assert first["cache"] == "FunctionCache", "umap-learn's layout is compiled without numba's disk cache"
    assert first["hits"] + first["misses"] == 1, first
    assert any(Path(first["path"]).glob("layouts._optimize_layout_euclidean_single_epoch*.nbi")), first["path"]
    second = _probe(env)
    assert second["hits"] == 1 and second["misses"] == 0, second


def test_a_umap_imported_before_is_used_as_it_is():
    code = ("import umap, numba; import umap.layouts as L; "
            "from workbench.embeddings.umap_loader import import_umap; "
            "assert import_umap() is umap; "
            "assert numba.njit.__module__.startswith('numba'), numba.njit; "
            "print(type(L._nb_optimize_layout_euclidean_single_epoch._cache).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "NullCache"

