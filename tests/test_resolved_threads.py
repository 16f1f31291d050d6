"""Every family records the thread count and device it used, and they are the numbers and names
the fitted model actually runs with (XGBoost's booster ``nthread``, fastText's ``thread``),
read back from the recorded run, on real fashion products."""

from __future__ import annotations

import json

from workbench.models.base import CategoryClassifier
from workbench.runs.records import get_run, run_dir
from workbench.runs.training import train_models


def recorded(ws, run_id: str) -> dict:
    params = get_run(ws, run_id)["params"]
    params = json.loads(params) if isinstance(params, str) else params
    return params["resolved"]


def booster_threads(model) -> int:
    """The ``nthread`` the fitted booster runs with (its own configuration)."""
    return int(json.loads(model.booster_.save_config())["learner"]["generic_param"]["nthread"])


def test_xgboost_records_the_threads_its_booster_uses(fashion_ws):
    from workbench.models.xgb import XGBoostClassifier
    from workbench.runs.training import load_training_frame

    [run_id] = train_models(fashion_ws, ["xgboost"], "grouped", sample=200,
                            params={"xgboost": {"n_estimators": 3, "max_depth": 2}})
    resolved = recorded(fashion_ws, run_id)
    assert isinstance(resolved["n_jobs"], int) and resolved["n_jobs"] >= 1  # a number, never None
    assert resolved["device"] == "cpu"
    # the same configuration fitted here: the booster runs with the number the run records
    frame = load_training_frame(fashion_ws, "grouped", ("catalog", "human"))
    train = frame[frame["part"] == "train"].head(200)
    for n_jobs, expected in (("auto", None), (1, 1)):
        model = XGBoostClassifier(n_estimators=2, max_depth=2, n_jobs=n_jobs, workspace=str(fashion_ws.path))
        model.fit(train, train["leaf"])
        got = model.resolved_params()
        assert booster_threads(model) == got["n_jobs"] == (expected or got["n_jobs"])
        config = json.loads(model.booster_.save_config())["learner"]["generic_param"]
        assert config["device"] == got["device"] == "cpu"


def test_fasttext_records_the_threads_it_trained_with(fashion_ws):
    from workbench.models.fasttext_model import FastTextClassifier
    from workbench.runs.training import load_training_frame

    [run_id] = train_models(fashion_ws, ["fasttext"], "grouped", sample=300,
                            params={"fasttext": {"epoch": 2, "dim": 8}})
    resolved = recorded(fashion_ws, run_id)
    assert resolved["threads"] == 1 and resolved["device"] == "cpu"
    frame = load_training_frame(fashion_ws, "grouped", ("catalog", "human"))
    train = frame[frame["part"] == "train"].head(300)
    model = FastTextClassifier(epoch=2, dim=8).fit(train, train["leaf"])
    assert model.model_.f.getArgs().thread == model.resolved_params()["threads"] == resolved["threads"]
