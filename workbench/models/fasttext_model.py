"""``fasttext``: Facebook's fastText supervised classifier (the PyPI package ``fasttext-numpy2``).

A bag of word n-grams and character n-grams (subwords, so misspellings still match) averaged
into one vector, then a softmax: seconds to train on a whole catalog and, on short product
titles, about as accurate as the neural families. It is the workbench's fast text baseline and
a member of the default ``ensemble``.

``fasttext`` 0.9.3 fails at ``predict`` under NumPy 2; ``fasttext-numpy2`` is the same library
with that fixed. Training reads a temporary text file (fastText trains from files only).
Persistence: fastText's own binary format (``model.bin``), read by its C++ loader only after
:func:`workbench.models.artifact_check.check_fasttext_file` has walked its structure; no pickle.
With ``threads=1`` (the default) the same seed gives the same model; more threads train
faster but not reproducibly (fastText's lock-free SGD).
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.catalog.text import segment_spaceless
from workbench.errors import WorkbenchError
from workbench.models.artifact_check import check_fasttext_file
from workbench.models.auto import is_auto
from workbench.models.base import CategoryClassifier, check_fields, product_texts, register
from workbench.models.progress import progress_line, progress_mode

ARTIFACT = "model.bin"
LABEL = "__label__"
#: ``epoch="auto"``: 25 epochs from this many training products up, more below (see ``_epochs``).
REFERENCE_SIZE, MAX_EPOCHS = 30_000, 100


def fasttext_text(text: str) -> str:
    """One line of fastText input: lower case, runs of scripts without spaces (Thai, Japanese,
    Chinese) as character bigrams (fastText splits words on whitespace only), whitespace
    (newlines included) collapsed."""
    return re.sub(r"\s+", " ", segment_spaceless(str(text).lower())).strip()


def _import_fasttext():
    try:
        import fasttext
    except ImportError as exc:
        raise WorkbenchError("the fasttext model needs the package fasttext-numpy2; "
                             "run `pip install fasttext-numpy2`") from exc
    return fasttext


@register
class FastTextClassifier(CategoryClassifier):
    """fastText supervised training on the chosen text fields.

    Parameters: ``leaves``, ``fields`` (product fields joined into one text, attributes in
    ``extra`` included), ``epoch`` (``"auto"``: 25 on a large catalog, up to 100 on a small one;
    on a 1,351-product Flipkart sample 25 epochs scored 0.60, 100 scored 0.76), ``lr``, ``word_ngrams``, ``minn`` / ``maxn`` (character
    n-gram lengths; 0 switches subwords off), ``dim``, ``loss`` (``softmax``, ``hs``, ``ova``),
    ``threads``, ``progress`` (fastText's own progress line on a terminal, a line when training
    starts and one when it ends in a log: :mod:`workbench.models.progress`), ``oversample``
    (``"sqrt"`` or ``"balanced"``: rare leaves' lines repeated, fastText has no class weights;
    :mod:`workbench.models.sampling`), ``random_state``.
    """

    kind = "fasttext"

    def __init__(self, leaves=None, fields=("title", "brand"), epoch="auto", lr=0.5, word_ngrams=2,
                 minn=2, maxn=5, dim=100, loss="softmax", threads=1, progress=None,
                 oversample=None, random_state=0):
        self._store_params(locals())

    def _epochs(self, n_train: int) -> int:
        """``epoch="auto"``: 25 passes over a catalog of :data:`REFERENCE_SIZE` products or more,
        more over a smaller one (in proportion to the square root of how much smaller, at most
        :data:`MAX_EPOCHS`), so that a small catalog gets enough updates."""
        if not is_auto(self.epoch):
            return int(self.epoch)
        scaled = 25 * math.sqrt(REFERENCE_SIZE / max(1, n_train))
        return int(min(MAX_EPOCHS, max(25, round(scaled))))

    def _texts(self, X: pd.DataFrame) -> list[str]:
        return [fasttext_text(t) for t in product_texts(X, self.fields)]

    def _fit(self, X: pd.DataFrame, y: np.ndarray, n_classes: int, valid) -> None:
        fasttext = _import_fasttext()
        check_fields(X, self.fields)
        lines = "".join(f"{LABEL}{label} {text}\n" for label, text in zip(y, self._texts(X)))
        mode = progress_mode(self.progress)
        epochs = self._epochs(len(y))
        self.resolved_params_ = {"epoch": epochs} if is_auto(self.epoch) else {}
        self.resolved_params_.update(threads=int(self.threads), device="cpu")  # what fastText runs on
        t0 = time.perf_counter()
        if mode == "lines":
            progress_line("fasttext", "training", {"products": len(y), "epochs": epochs},
                          note="fastText trains in one call: one line when it ends")
        with tempfile.TemporaryDirectory(prefix="workbench-fasttext-") as tmp:
            path = Path(tmp) / "train.txt"
            path.write_text(lines, encoding="utf-8")
            self.model_ = fasttext.train_supervised(
                str(path), epoch=epochs, lr=float(self.lr), wordNgrams=int(self.word_ngrams),
                minn=int(self.minn), maxn=int(self.maxn), dim=int(self.dim), loss=self.loss,
                thread=int(self.threads), seed=int(self.random_state),
                verbose=2 if mode == "bar" else 0)
        if mode == "lines":
            progress_line("fasttext", "trained", {"epochs": epochs}, time.perf_counter() - t0)

    def _predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = np.zeros((len(X), len(self.classes_)))
        if len(X) == 0:
            return proba
        labels, probs = self.model_.predict(self._texts(X), k=-1)
        for row, (names, values) in enumerate(zip(labels, probs)):
            proba[row, [int(name[len(LABEL):]) for name in names]] = values
        return proba

    def _save_artifacts(self, directory: Path) -> None:
        self.model_.save_model(str(directory / ARTIFACT))

    def _load_artifacts(self, directory: Path) -> None:
        path = directory / ARTIFACT
        if not path.exists():
            raise WorkbenchError(f"{path} is missing; save the fasttext model again")
        check_fasttext_file(path)  # the C++ loader trusts every count in the file
        self.model_ = _import_fasttext().load_model(str(path))
