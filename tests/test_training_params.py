"""Per-kind parameters reach every kind trained together, through ``train_models`` with
progress echoed (as the CLI and the notebooks call it) and through ``workbench train``; checked
on the fitted models themselves (the booster's rounds, the epochs run), on real products."""

from __future__ import annotations

import pytest

from workbench import Workspace, ingest_dataset
from workbench.cli.main import main
from workbench.runs.predictor import run_model as load_run_model
from workbench.runs.records import get_run, list_runs
from workbench.runs.training import train_models

KINDS = ["tfidf", "xgboost", "cnn-lstm"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """800 real fashion products in a workspace of their own."""
    ws = Workspace(tmp_path_factory.mktemp("params_ws"))
    ingest_dataset(ws, "fashion", sample=800, seed=5)
    return ws


def fitted(ws, run_id):
    """What the saved model of a run actually did: booster rounds or epochs run, and C."""
    model = load_run_model(ws, run_id)
    if get_run(ws, run_id)["model"] == "xgboost":
        return {"rounds": model.booster_.num_boosted_rounds()}
    if get_run(ws, run_id)["model"] == "cnn-lstm":
        return {"epochs": model.n_epochs_}
    return {"C": model.get_params()["C"]}


def test_every_kind_gets_its_own_parameters_when_progress_is_echoed(ws, one_torch_thread):
    lines: list[str] = []
    params = {"tfidf": {"C": 0.25},
              "xgboost": {"n_estimators": 5, "max_depth": 3, "early_stopping_rounds": 50, "n_jobs": 1,
                          "progress": False},
              "cnn-lstm": {"max_epochs": 1, "num_threads": 1, "early_stopping_patience": 5}}
    run_ids = train_models(ws, KINDS, params=params, echo=lines.append)
    assert [fitted(ws, r) for r in run_ids] == [{"C": 0.25}, {"rounds": 5}, {"epochs": 1}]
    assert get_run(ws, run_ids[1])["params"]["n_estimators"] == 5
    assert sum(line.startswith(("tfidf ", "xgboost ", "cnn-lstm ")) for line in lines) == 3


def test_the_command_line_passes_each_kinds_parameters(ws, one_torch_thread, capsys):
    before = set(list_runs(ws)["run_id"])
    code = main(["train", "--workspace", str(ws.path), "--models", ",".join(KINDS),
                 "--param", "tfidf.C=0.75", "--param", "xgboost.n_estimators=3",
                 "--param", "xgboost.early_stopping_rounds=50", "--param", "xgboost.n_jobs=1",
                 "--param", "cnn-lstm.max_epochs=1", "--param", "cnn-lstm.num_threads=1"])
    assert code in (0, None), capsys.readouterr().err
    runs = list_runs(ws)
    new = runs[~runs["run_id"].isin(before)]
    assert list(new["model"]) == KINDS
    assert [fitted(ws, r) for r in new["run_id"]] == [{"C": 0.75}, {"rounds": 3}, {"epochs": 1}]
