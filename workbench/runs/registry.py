"""The model registry: which run serves the HTTP API, which one shadows it, and the promotion
gate a run must pass before it serves.

A run serves once it is *promoted*: its validation accuracy must reach the configured minimum
(:func:`min_accuracy`, ``workbench registry --set-min-accuracy``) and must not be below the
current serving run's accuracy on the same products (the candidate's validation part, scored by
both runs). ``force=True`` overrides a refusal and is recorded as forced, with its note. Until a
run is promoted, the serving run is :func:`workbench.runs.selection.default_run`. A *shadow*
run scores every request beside the serving run without answering (the monitoring compares
the two). Every decision, refusals included, is a row of ``serving_events``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError, number_between
from workbench.runs.predictor import check_model, has_model, run_model
from workbench.runs.records import get_run, load_predictions
from workbench.runs.selection import default_run, promoted_run
from workbench.store import Workspace


#: the minimum validation accuracy of a promoted run until one is configured
DEFAULT_MIN_ACCURACY = 0.8
MIN_ACCURACY_KEY = "promotion_min_accuracy"


class PromotionRefused(WorkbenchError):
    """The promotion gate refused a run (the refusal is recorded); ``gate`` says why."""

    def __init__(self, gate: "GateResult"):
        super().__init__(f"{gate}. Pass --force with a --note to promote it anyway (recorded)")
        self.gate = gate


@dataclass
class ServingRun:
    """The run that answers requests: ``source`` is ``promoted`` or ``default`` (nothing promoted)."""

    run_id: str
    source: str
    since: datetime | None = None
    actor: str | None = None
    forced: bool = False


@dataclass
class GateResult:
    """The promotion gate's verdict on a candidate run."""

    run_id: str
    serving_run_id: str | None
    valid_accuracy: float
    serving_valid_accuracy: float | None
    n_compared: int
    min_accuracy: float
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether the run may serve without ``force``."""
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        """The verdict as plain JSON-ready values."""
        return {"run_id": self.run_id, "serving_run_id": self.serving_run_id, "passed": self.passed,
                "valid_accuracy": self.valid_accuracy, "serving_valid_accuracy": self.serving_valid_accuracy,
                "n_compared": self.n_compared, "min_accuracy": self.min_accuracy,
                "reasons": list(self.reasons), "notes": list(self.notes)}

    def __str__(self) -> str:
        serving = ("" if self.serving_valid_accuracy is None else
                   f", serving run {self.serving_run_id} {self.serving_valid_accuracy:.4f}")
        head = (f"run {self.run_id}: validation accuracy {self.valid_accuracy:.4f} on "
                f"{self.n_compared:,} products{serving}, minimum {self.min_accuracy:.4f}")
        if self.passed:
            return head + ": passes the promotion gate"
        return head + ": refused (" + "; ".join(self.reasons) + ")"


def _events(ws: Workspace) -> pd.DataFrame:
    if not ws.has_table("serving_events"):  # a read-only workspace made before the registry
        return pd.DataFrame(columns=["event_id", "event", "run_id", "forced", "actor", "event_at"])
    return ws.df("SELECT * FROM serving_events ORDER BY event_at, event_id")


def serving_history(ws: Workspace) -> pd.DataFrame:
    """Every promotion, refusal and shadow change, newest first, with ``reasons`` decoded."""
    events = _events(ws).iloc[::-1].reset_index(drop=True)
    if "reasons" in events:
        events["reasons"] = events["reasons"].map(lambda v: json.loads(v) if isinstance(v, str) else [])
    return events


def serving_run(ws: Workspace, warn=None) -> ServingRun:
    """The run that serves: :func:`workbench.runs.selection.default_run` (the newest promoted run
    whose model still exists, else the rule; ``warn`` is told when every run is flagged), with
    where it comes from."""
    promoted = promoted_run(ws)
    if promoted is not None:
        return ServingRun(promoted["run_id"], "promoted", promoted["event_at"], promoted["actor"],
                          promoted["forced"])
    return ServingRun(default_run(ws, warn=warn, promoted=False), "default")


def shadow_run(ws: Workspace) -> str | None:
    """The challenger scoring beside the serving run, or ``None``."""
    events = _events(ws)
    last = events[events["event"].isin(["shadow", "shadow_off"])].tail(1)
    if last.empty or last["event"].iloc[0] == "shadow_off":
        return None
    run_id = str(last["run_id"].iloc[0])
    return run_id if has_model(ws, run_id) else None


def min_accuracy(ws: Workspace) -> float:
    """The configured minimum validation accuracy for a promotion."""
    value = ws.meta(MIN_ACCURACY_KEY)
    return DEFAULT_MIN_ACCURACY if value is None else float(value)


def set_min_accuracy(ws: Workspace, value: float) -> float:
    """Configure the minimum validation accuracy a promoted run must reach (0 to 1)."""
    value = _check_accuracy(value)
    ws.set_meta(MIN_ACCURACY_KEY, repr(value))
    return value


def _check_accuracy(value: Any) -> float:
    return number_between(value, "minimum accuracy", 0, 1, "0.9")


def _require_model(ws: Workspace, run_id: str) -> Path:
    get_run(ws, run_id)  # a clear error for an unknown id
    return check_model(ws, run_id)


def _photo_only(model_dir: Path) -> bool:
    """Whether a saved model reads nothing but the photo (the ``image`` family, or a fusion of
    the photo alone)."""
    manifest = json.loads((model_dir / "manifest.json").read_text())
    inputs = (manifest.get("params") or {}).get("inputs")
    return manifest.get("kind") == "image" or (manifest.get("kind") == "fusion" and list(inputs or []) == ["image"])


def _accuracy_on(ws: Workspace, run_id: str, product_ids: np.ndarray, y_true: np.ndarray) -> float:
    """A run's top-1 accuracy on given products (see :func:`_predicted_on`)."""
    return float(np.mean(_predicted_on(ws, run_id, product_ids) == y_true))


def accuracy_on(ws: Workspace, run_id: str, product_ids, y_true) -> float:
    """A run's top-1 accuracy on given products and true leaves (its stored validation matrix
    when it holds them all, else its saved model), e.g. a serving run scored on a candidate's
    products and the current labels."""
    return _accuracy_on(ws, run_id, np.asarray(product_ids).astype(str), np.asarray(y_true, dtype=object))


def _predicted_on(ws: Workspace, run_id: str, product_ids: np.ndarray) -> np.ndarray:
    """A run's top-1 leaves for given products: from its stored validation matrix when it has
    every one of them, else by scoring its saved model on them."""
    try:
        stored = load_predictions(ws, run_id, "valid")
    except WorkbenchError:
        stored = None
    if stored is not None:
        pos = pd.Index(stored.product_ids.astype(str)).get_indexer(product_ids.astype(str))
        if (pos >= 0).all():
            return stored.classes[stored.proba[pos].argmax(axis=1)]
    _require_model(ws, run_id)
    model = run_model(ws, run_id)
    frame = ws.df("SELECT product_id, title, description, brand, price, image, extra FROM products "
                  "WHERE product_id IN (SELECT unnest(?))", [list(map(str, product_ids))])
    frame = frame.set_index("product_id").loc[list(map(str, product_ids))].reset_index()
    return np.asarray(model.predict(frame), dtype=object)


def check_promotion(ws: Workspace, run_id: str, *, minimum: float | None = None) -> GateResult:
    """The gate's verdict on ``run_id`` (nothing is recorded): its validation accuracy against
    the minimum and against the serving run's accuracy on the same validation products; it is
    refused as worse only when the paired bootstrap
    (:func:`workbench.evaluate.bootstrap.paired_bootstrap`) puts the serving run clearly above it."""
    from workbench.runs.rescore import bring_to_current_truth
    from workbench.runs.truth import OLDER

    folder = _require_model(ws, run_id)
    bar = min_accuracy(ws) if minimum is None else _check_accuracy(minimum)
    truth = bring_to_current_truth(ws, [run_id])  # scored on the labels of now, like every run
    try:
        valid = load_predictions(ws, run_id, "valid")
    except WorkbenchError:
        raise WorkbenchError(f"run {run_id} has no validation predictions, so the gate cannot judge it; "
                             "train it with a validation part") from None
    ids, y_true = valid.product_ids.astype(str), valid.y_true.astype(object)
    accuracy = float(np.mean(valid.classes[valid.proba.argmax(axis=1)] == y_true))
    try:
        current = serving_run(ws).run_id
    except WorkbenchError:
        current = None
    gate = GateResult(run_id, current, accuracy, None, len(ids), bar)
    if truth.get(run_id) == OLDER:
        gate.reasons.append("it was scored on older labels: the validation or test products changed since "
                            "it was trained, so its figures cannot be compared; retrain it")
    if accuracy < bar:
        gate.reasons.append(f"validation accuracy {accuracy:.4f} is below the minimum {bar:.4f}")
    if _photo_only(folder):
        gate.reasons.append("it reads only the photo, and the HTTP API never fetches image_url: it would "
                            "answer every product alike; promote a run that reads the text (fusion reads both)")
    if current is not None and current != run_id:
        from workbench.evaluate.bootstrap import paired_bootstrap

        theirs = _predicted_on(ws, current, ids)
        gate.serving_valid_accuracy = float(np.mean(theirs == y_true))
        if accuracy < gate.serving_valid_accuracy:
            # "worse" only when the paired bootstrap says so (the test `compare` uses): a small
            # validation part cannot tell a one-product difference from noise
            mine = valid.classes[valid.proba.argmax(axis=1)]
            test = paired_bootstrap(y_true, mine, theirs, n_boot=1000)
            interval = (f"difference {100 * test.difference:+.1f} points, 95% paired bootstrap interval "
                        f"[{100 * test.low:+.1f}, {100 * test.high:+.1f}]")
            if test.b_beats_a:
                gate.reasons.append(f"below the serving run {current} ({gate.serving_valid_accuracy:.4f}) "
                                    f"on the same {len(ids):,} validation products ({interval})")
            else:
                gate.notes.append(f"below the serving run {current} ({gate.serving_valid_accuracy:.4f}) on the "
                                  f"same {len(ids):,} validation products, but not clearly ({interval}): not refused")
        candidate_split, current_split = get_run(ws, run_id)["split"], get_run(ws, current)["split"]
        if candidate_split != current_split:
            gate.notes.append(f"the serving run was trained on the {current_split} split; some of these "
                              f"{candidate_split}-split validation products may be in its training part")
    elif current == run_id:
        gate.notes.append("this run already serves")
    return gate


def _record(ws: Workspace, event: str, run_id: str | None, *, gate: GateResult | None = None,
            previous: str | None = None, forced: bool = False, note: str | None = None, by: str) -> None:
    at = datetime.now(timezone.utc).replace(tzinfo=None)
    values = [event, run_id, previous if gate is None else gate.serving_run_id,
              None if gate is None else gate.valid_accuracy,
              None if gate is None else gate.serving_valid_accuracy,
              None if gate is None else gate.n_compared, None if gate is None else gate.min_accuracy,
              forced, json.dumps([] if gate is None else gate.reasons), note, by, at]
    with ws.transaction() as cur:
        cur.execute("INSERT INTO serving_events (event, run_id, previous_run_id, valid_accuracy, "
                    "previous_valid_accuracy, n_compared, min_accuracy, forced, reasons, note, actor, event_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)


def _actor(by: str | None) -> str:
    by = str(by or "").strip()
    if not by:
        raise WorkbenchError("say who makes the change (--by NAME)")
    return by


def promote(ws: Workspace, run_id: str, *, by: str, force: bool = False, note: str | None = None,
            minimum: float | None = None) -> GateResult:
    """Make ``run_id`` the serving run if it passes the gate (:func:`check_promotion`).

    A refusal is recorded and raised as :class:`PromotionRefused`; with ``force`` the run is
    promoted anyway, recorded as forced with ``note`` (required) and the reasons it overrode.
    """
    by = _actor(by)
    gate = check_promotion(ws, run_id, minimum=minimum)
    if not gate.passed and not force:
        _record(ws, "refuse", run_id, gate=gate, note=note, by=by)
        raise PromotionRefused(gate)
    if force and not str(note or "").strip():
        raise WorkbenchError("a forced promotion needs a --note saying why (it is recorded)")
    _record(ws, "promote", run_id, gate=gate, forced=bool(force and not gate.passed), note=note, by=by)
    return gate


def record_refusal(ws: Workspace, run_id: str, gate: GateResult, *, by: str, note: str | None = None) -> None:
    """Record a refusal of the gate that ``promote`` did not make (the retraining cycle's own gate
    step), so that the serving history holds every refusal, whoever asked."""
    _record(ws, "refuse", run_id, gate=gate, note=note, by=_actor(by))


def set_shadow(ws: Workspace, run_id: str | None, *, by: str) -> str | None:
    """Make ``run_id`` the shadow challenger (``None`` switches shadowing off); returns it."""
    by = _actor(by)
    if run_id is None:
        _record(ws, "shadow_off", None, previous=shadow_run(ws), by=by)
        return None
    _require_model(ws, run_id)
    current = serving_run(ws).run_id
    if current == run_id:
        raise WorkbenchError(f"run {run_id} already serves; shadow another run to compare it with")
    _record(ws, "shadow", run_id, previous=current, by=by)
    return run_id
