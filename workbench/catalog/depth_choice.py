"""The depth cut ``workbench inspect`` proposes, validated on the inspected rows.

For every depth of the category tree a quick, seeded model (character n-gram tfidf of title +
brand, ``LinearSVC``) is fitted on three quarters of a sample of the rows (at most
:data:`MAX_ROWS`, split by title so a repeated title never sits on both sides) and scored on
the rest, with each product labelled by its path cut at that depth. The proposal is the deepest
depth whose validated accuracy stays at or above the bar: :data:`BAR` (0.85), or 5 points under
depth 1's accuracy when depth 1 itself is below 0.90 (a hard catalog still gets a depth). Each
depth gets one line saying its leaves, its accuracy and why it was or was not chosen. Depths
below the first one under the bar are not fitted (finer leaves only lose accuracy; a fit over
a thousand leaves would cost seconds), and say so.

The quick model is a floor, not the score a trained model reaches: it sees only a few
thousand titles. It ranks depths, it does not promise an accuracy.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

#: the validated accuracy a depth must keep to be proposed
BAR = 0.85
#: the bar is lowered to depth 1's accuracy minus this when depth 1 is below ``BAR + MARGIN``
MARGIN = 0.05
#: rows of the inspected sample the quick model reads (seeded sample)
MAX_ROWS = 5000
#: fewer rows with a category than this: no depth is validated and no cut is proposed
MIN_ROWS = 50
#: the share of rows (by title) held out for validation
HOLDOUT = 0.25


@dataclass
class DepthFigure:
    """One depth's validated figures and the reason it was (not) chosen."""

    depth: int
    leaves: int
    rows: int
    accuracy: float | None
    chosen: bool = False
    reason: str = ""

    def line(self) -> str:
        """``depth 3: 74 leaves, validated accuracy 0.91 -> chosen (...)``."""
        head = f"depth {self.depth}: {self.leaves:,} leaves"
        if self.accuracy is None:
            return f"{head}, {self.reason}"
        joint = " " if self.reason.startswith("->") else ", "
        return f"{head}, validated accuracy {self.accuracy:.2f}" + (joint + self.reason if self.reason else "")


@dataclass
class DepthChoice:
    """The chosen depth, the bar it was held to and the per-depth figures."""

    depth: int
    deepest: int
    bar: float
    rows: int
    figures: list[DepthFigure]
    reads: str = "title"

    def to_dict(self) -> dict:
        """JSON-ready: ``{"depth", "deepest", "bar", "rows", "model", "figures": [...]}``."""
        return {"depth": self.depth, "deepest": self.deepest, "bar": round(self.bar, 4), "rows": self.rows,
                "reads": self.reads,
                "model": f"char_wb tfidf (2-4) of {self.reads}, LinearSVC, 3/4 train 1/4 validation by title",
                "figures": [{**asdict(f), "accuracy": None if f.accuracy is None else round(f.accuracy, 4)}
                            for f in self.figures]}


def _holdout(titles: Sequence[str]) -> np.ndarray:
    """True for the validation rows: a quarter of the distinct titles, by a hash of the title."""
    keys = [" ".join(str(t).lower().split()) for t in titles]
    return np.array([int(hashlib.sha1(k.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < HOLDOUT for k in keys])


def validated_accuracy(features, labels: np.ndarray, test: np.ndarray, seed: int = 0) -> float | None:
    """Accuracy of a ``LinearSVC`` fitted on the rows not in ``test``, on the ``test`` rows
    (``None`` when either side is empty; 1.0 when the training rows hold a single leaf)."""
    from sklearn.svm import LinearSVC

    train = ~test
    if not train.any() or not test.any():
        return None
    classes = np.unique(labels[train])
    if len(classes) == 1:
        return float((labels[test] == classes[0]).mean())
    model = LinearSVC(C=0.5, random_state=seed).fit(features[train], labels[train])
    return float((model.predict(features[test]) == labels[test]).mean())


def choose_depth(titles: Sequence[str], paths: Sequence[tuple[str, ...]], brands: Sequence[str] | None = None,
                 *, bar: float = BAR, max_rows: int = MAX_ROWS, seed: int = 0) -> DepthChoice | None:
    """The deepest depth whose quick model keeps a validated accuracy at or above the bar
    (see the module docstring); ``None`` when no row has a category."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    rows = [i for i, p in enumerate(paths) if p]
    if not rows:
        return None
    if len(rows) > max_rows:
        rows = sorted(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False).tolist())
    text = [str(titles[i]) + (" " + str(brands[i]) if brands is not None and brands[i] else "") for i in rows]
    kept = [paths[i] for i in rows]
    reads = "title + brand" if brands is not None and any(brands[i] for i in rows) else "title"
    deepest = max(len(p) for p in kept)
    test = _holdout([titles[i] for i in rows])
    features = None
    if len(kept) >= MIN_ROWS and test.any() and not test.all():
        try:
            features = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True,
                                       max_features=100_000, dtype=np.float32).fit_transform(text)
        except ValueError:  # no character n-gram occurs twice: nothing to learn from
            features = None
    if features is None:
        figures = [DepthFigure(d, len({p[:d] for p in kept}), len(kept), None,
                               reason="not validated (too few rows)") for d in range(1, deepest + 1)]
        figures[-1].chosen = True
        figures[-1].reason = (f"not validated -> kept (too few rows to validate a cut: {len(kept):,} with a "
                              f"category, {MIN_ROWS} needed)")
        return DepthChoice(deepest, deepest, bar, len(kept), figures, reads)
    figures: list[DepthFigure] = []
    below = None  # the first depth under the bar: deeper ones are finer still and not fitted
    for depth in range(1, deepest + 1):
        labels = np.array([" > ".join(p[:depth]) for p in kept], dtype=object)
        figure = DepthFigure(depth, len(set(labels)), len(kept), None)
        figures.append(figure)
        if below is not None:
            figure.reason = f"not validated (depth {below} is already below the bar)"
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "more unique classes than half the samples"
            figure.accuracy = validated_accuracy(features, labels, test, seed)
        if depth == 1 and figure.accuracy is not None and figure.accuracy < bar + MARGIN:
            bar = min(bar, round(figure.accuracy - MARGIN, 2))
        if figure.accuracy is not None and figure.accuracy < bar:
            below = depth
    passing = [f.depth for f in figures if f.accuracy is not None and f.accuracy >= bar]
    chosen = max(passing, default=1)
    for f in figures:
        if f.reason:
            continue
        if f.accuracy is None:
            f.reason = "not validated (too few rows on one side of the split)"
        elif f.depth == chosen:
            f.chosen = True
            f.reason = ("-> chosen (the deepest level)" if chosen == deepest
                        else f"-> chosen (the deepest at or above the bar {bar:.2f})")
        elif f.accuracy < bar:
            f.reason = f"below the bar {bar:.2f}"
        else:
            f.reason = f"at or above the bar {bar:.2f}"
    return DepthChoice(chosen, deepest, bar, len(kept), figures, reads)
