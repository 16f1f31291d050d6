"""What ``compare`` shows beside the figures: each run's setup (encoder, members, the values its
defaults resolved to) and, on small test parts, bootstrap intervals and a paired verdict.

A test part is small when it has fewer than :data:`workbench.evaluate.bootstrap.SMALL_PER_LEAF`
products per leaf on average; there one product moves accuracy visibly, so ``compare`` gives the
95% bootstrap interval of accuracy and macro-F1 and says whether each run is clearly below the
most accurate run on the same products (:func:`workbench.evaluate.bootstrap.paired_bootstrap`:
"A beats B" only when the interval of the difference excludes zero).
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Resolved values that are tables of validation scores (kept out of the one-line setup).
_DETAIL = ("valid_accuracy", "valid_macro_f1", "probe_valid_accuracy", "head_valid_accuracy",
           "fields_valid_accuracy", "member_valid_accuracy")


def run_setup(params: dict[str, Any] | None) -> str:
    """One line: the encoder, the members that vote (ensemble, auto) and the resolved values."""
    params = dict(params or {})
    resolved = dict(params.get("resolved") or {})
    parts = []
    encoder = resolved.get("encoder") or params.get("embedding_model")
    if encoder and encoder != "auto":
        parts.append(f"encoder {encoder}")
    if "members" in params and params["members"] is not None:
        dropped = set(resolved.get("dropped") or [])
        members = [m for m in params["members"] if m not in dropped]
        parts.append("members " + ", ".join(members) + (f" (dropped {', '.join(sorted(dropped))})" if dropped else ""))
    photo_kept = resolved.get("photo") == "kept"
    if "head" in resolved:
        parts.append("members tfidf" + (f" + head (weight {resolved.get('head_weight')})"
                                        if resolved["head"] == "kept" else f" (head {resolved['head']})")
                     + (f" + photo (weight {resolved.get('photo_weight')})" if photo_kept else ""))
    skip = {"encoder", "head", "head_weight", "dropped"} | ({"photo", "photo_weight"} if photo_kept else set())
    for key, value in resolved.items():
        if key in skip or any(key.endswith(d) for d in _DETAIL):
            continue
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={v}" for k, v in value.items() if not isinstance(v, dict))
            if inner:
                parts.append(f"{key}: {inner}")
        elif isinstance(value, list):
            parts.append(f"{key}={'+'.join(map(str, value))}")
        else:
            parts.append(f"{key}={value}")
    return "; ".join(parts)


def interval_figures(ws, run_ids: list[str], n_boot: int = 500, part: str = "test") -> dict[str, dict[str, Any]]:
    """For the runs whose ``part`` (test or valid) is small (fewer than 50 products per leaf):
    ``{run_id: {"accuracy": Interval, "macro_f1": Interval, "best": run id of the most accurate
    run on the same products, "verdict": PairedResult against it or None for that run itself}}``;
    ``{}`` when no run's part is small."""
    from workbench.errors import WorkbenchError
    from workbench.evaluate.bootstrap import bootstrap_interval, needs_intervals, paired_bootstrap
    from workbench.runs.records import load_predictions

    labels = {}
    for run_id in run_ids:
        try:
            p = load_predictions(ws, run_id, part)
        except WorkbenchError:
            continue
        if not len(p.y_true):
            continue
        labels[run_id] = (list(map(str, p.product_ids)), p.y_true.astype(str),
                          p.classes[p.proba.argmax(axis=1)].astype(str))
    small = [r for r, (_, y, _) in labels.items() if needs_intervals(y)]
    out: dict[str, dict[str, Any]] = {}
    accuracy = {r: float(np.mean(y == pred)) for r, (_, y, pred) in labels.items()}
    for run_id in small:
        ids, y, pred = labels[run_id]
        got = bootstrap_interval(y, pred, n_boot=n_boot)
        same = [r for r in small if sorted(labels[r][0]) == sorted(ids)]
        best = max(same, key=lambda r: accuracy[r])
        verdict = None
        if best != run_id:
            order = {p: i for i, p in enumerate(labels[best][0])}
            theirs = labels[best][2][[order[p] for p in ids]]
            verdict = paired_bootstrap(y, pred, theirs, n_boot=n_boot)
        out[run_id] = {"accuracy": got["accuracy"], "macro_f1": got["macro_f1"], "best": best, "verdict": verdict}
    return out


def verdict_text(figures: dict[str, Any], name=str) -> str:
    """``"most accurate"``, ``"clearly below X"`` or ``"not clearly below X (-1.2 pts)"`` for one
    run of :func:`interval_figures` (``name`` turns the best run's id into what is shown)."""
    result = figures["verdict"]
    if result is None:
        return "most accurate"
    best = name(figures["best"])
    return (f"clearly below {best}" if result.b_beats_a
            else f"not clearly below {best} ({100 * result.difference:+.1f} pts)")


def interval_columns(ws, run_ids: list[str], n_boot: int = 500) -> dict[str, dict[str, str]]:
    """``{run_id: {"acc 95%": ..., "macro-F1 95%": ..., "vs best": ...}}`` for the runs whose test
    part is small; ``{}`` when none is."""
    out = {}
    for run_id, f in interval_figures(ws, run_ids, n_boot).items():
        out[run_id] = {"acc 95%": f"[{f['accuracy'].low:.3f}, {f['accuracy'].high:.3f}]",
                       "macro-F1 95%": f"[{f['macro_f1'].low:.3f}, {f['macro_f1'].high:.3f}]",
                       "vs best": verdict_text(f)}
    return out
