"""The model registry and its promotion gate on real runs: a tfidf run trained on 150 Apparel
products against one trained on the whole training part (same grouped split)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests._service_setup import copy_workspace
from workbench import Workspace
from workbench.errors import WorkbenchError
from workbench.runs.records import load_predictions, run_dir
from workbench.runs.registry import (PromotionRefused, _accuracy_on, check_promotion, min_accuracy, promote,
                                     serving_history, serving_run, set_min_accuracy, set_shadow, shadow_run)
from workbench.runs.selection import default_run


@pytest.fixture
def registry_ws(apparel_ws, tmp_path):
    ws = Workspace(copy_workspace(apparel_ws.ws, tmp_path / "registry_ws"))
    yield ws, apparel_ws.weak, apparel_ws.full
    ws.close()


def valid_accuracy(ws, run_id):
    p = load_predictions(ws, run_id, "valid")
    return float(np.mean(p.classes[p.proba.argmax(axis=1)] == p.y_true))


def test_nothing_promoted_means_the_default_run_serves(registry_ws):
    ws, weak, full = registry_ws
    serving = serving_run(ws)
    assert serving.run_id == default_run(ws) == full and serving.source == "default"
    assert shadow_run(ws) is None and min_accuracy(ws) == 0.8


def test_promote_refuses_a_worse_run_and_accepts_a_better_one(registry_ws):
    ws, weak, full = registry_ws
    assert valid_accuracy(ws, weak) < valid_accuracy(ws, full)
    with pytest.raises(PromotionRefused) as refused:
        promote(ws, weak, by="ana")
    gate = refused.value.gate
    assert not gate.passed and gate.serving_run_id == full
    assert gate.valid_accuracy == pytest.approx(valid_accuracy(ws, weak))
    assert gate.serving_valid_accuracy == pytest.approx(valid_accuracy(ws, full))
    assert "below the serving run" in str(refused.value) and "--force" in str(refused.value)
    assert serving_run(ws).run_id == full  # nothing changed, but the refusal is on record
    assert serving_history(ws)["event"].tolist() == ["refuse"]

    with pytest.raises(WorkbenchError, match="needs a --note"):
        promote(ws, weak, by="ana", force=True)
    forced = promote(ws, weak, by="ana", force=True, note="trying the small model")
    assert not forced.passed
    now = serving_run(ws)
    assert now.run_id == weak and now.source == "promoted" and now.forced and now.actor == "ana"

    better = promote(ws, full, by="ben")  # better than the (forced) serving run: accepted
    assert better.passed and better.serving_run_id == weak
    assert better.valid_accuracy > better.serving_valid_accuracy
    assert serving_run(ws).run_id == full and not serving_run(ws).forced
    history = serving_history(ws)
    assert history["event"].tolist() == ["promote", "promote", "refuse"]  # newest first
    assert history["forced"].tolist() == [False, True, False]
    assert history["note"].iloc[1] == "trying the small model"
    with pytest.raises(PromotionRefused):
        promote(ws, weak, by="ana")  # worse again


def test_the_minimum_accuracy_is_configured_and_checked(registry_ws):
    ws, weak, full = registry_ws
    assert set_min_accuracy(ws, 0.999) == 0.999 and min_accuracy(ws) == 0.999
    gate = check_promotion(ws, full)
    assert not gate.passed and "below the minimum 0.9990" in gate.reasons[0]
    assert "already serves" in gate.notes[0]
    assert check_promotion(ws, full, minimum=0.5).passed
    with pytest.raises(WorkbenchError, match="between 0 and 1"):
        set_min_accuracy(ws, 1.5)


def test_the_serving_run_is_scored_on_the_candidates_products_when_it_lacks_them(registry_ws):
    ws, weak, full = registry_ws
    test = load_predictions(ws, full, "test")  # products outside the stored validation part
    from_matrix = float(np.mean(test.classes[test.proba.argmax(axis=1)] == test.y_true))
    rescored = _accuracy_on(ws, full, test.product_ids.astype(str), test.y_true.astype(object))
    assert rescored == pytest.approx(from_matrix)


def test_shadow_run(registry_ws):
    ws, weak, full = registry_ws
    with pytest.raises(WorkbenchError, match="already serves"):
        set_shadow(ws, full, by="ana")
    assert set_shadow(ws, weak, by="ana") == weak and shadow_run(ws) == weak
    assert set_shadow(ws, None, by="ana") is None and shadow_run(ws) is None
    with pytest.raises(WorkbenchError, match="no run"):
        set_shadow(ws, "20990101-000000-tfidf-nothere", by="ana")


def test_a_photo_only_run_is_refused_since_the_api_fetches_no_photo(registry_ws):
    ws, weak, full = registry_ws
    manifest = run_dir(ws, full) / "model" / "manifest.json"
    saved = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**saved, "kind": "image"}))
    gate = check_promotion(ws, full)
    assert not gate.passed and any("never fetches image_url" in r for r in gate.reasons)
    manifest.write_text(json.dumps({**saved, "kind": "fusion", "params": {**saved["params"], "inputs": ["text", "image"]}}))
    assert check_promotion(ws, full).passed  # a fusion also reads the title


def test_thresholds_tuned_on_another_run_than_the_serving_one_are_flagged(registry_ws, capsys):
    from workbench.cli.main import main
    from workbench.loop.thresholds import publish_thresholds
    from workbench.service.snapshot import build_snapshot

    ws, weak, full = registry_ws
    publish_thresholds(ws, 0.7, by="ana", run_id=full)
    snap = build_snapshot(ws)
    assert snap["serving"]["run_id"] == full and snap["thresholds"]["run_id"] == full
    assert snap["thresholds"]["warning"] is None
    promote(ws, weak, by="ana", force=True, note="small model")
    snap = build_snapshot(ws)
    assert snap["thresholds"]["global"] == 0.7  # still applied, and said
    assert f"tuned on run {full}, not on run {weak}" in snap["thresholds"]["warning"]
    ws.close()
    assert main(["registry", "--workspace", str(ws.path)]) == 0
    assert f"warning: the published thresholds were tuned on run {full}" in capsys.readouterr().out


def test_a_run_only_slightly_below_the_serving_one_is_not_refused_as_worse(registry_ws):
    from workbench.evaluate.bootstrap import paired_bootstrap
    from workbench.runs.training import train_models

    ws, weak, full = registry_ws
    # the whole training part but one product in eight fewer: a little below, within the noise
    n_train = int(ws.scalar("SELECT count(*) FROM splits WHERE kind = 'grouped' AND part = 'train'"))
    [close] = train_models(ws, ["tfidf"], "grouped", sample=int(n_train * 0.875), seed=3)
    gate = check_promotion(ws, close)
    a, b = (load_predictions(ws, r, "valid") for r in (close, full))
    order = {p: i for i, p in enumerate(b.product_ids)}
    theirs = b.classes[b.proba.argmax(axis=1)][[order[p] for p in a.product_ids]]
    verdict = paired_bootstrap(a.y_true, a.classes[a.proba.argmax(axis=1)], theirs, n_boot=1000)
    refused_as_worse = any("below the serving run" in r for r in gate.reasons)
    assert refused_as_worse == verdict.b_beats_a  # the gate's "worse" is the paired bootstrap's
    if gate.valid_accuracy < gate.serving_valid_accuracy and not verdict.b_beats_a:
        assert any("but not clearly" in n and "not refused" in n for n in gate.notes)
    # the weak run (150 products) is clearly below: refused, with the interval in the reason
    weak_gate = check_promotion(ws, weak)
    assert any("95% paired bootstrap interval" in r for r in weak_gate.reasons)
