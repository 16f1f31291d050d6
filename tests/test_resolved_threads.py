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


def test_cnn_lstm_records_the_torch_threads_and_device_its_training_ran_with():
    import pandas as pd
    import torch

    from workbench.models.neural.callbacks import Callback
    from workbench.models.neural.cnn_lstm import CnnLstmClassifier
    from workbench.paths import PROJECT_ROOT

    seen = []

    class Threads(Callback):
        def on_epoch_begin(self, trainer, epoch: int) -> None:
            seen.append((torch.get_num_threads(), str(next(trainer.module.parameters()).device)))

    styles = pd.read_csv(PROJECT_ROOT.parent / "shared" / "datasets" / "fashion" / "styles.csv",
                         on_bad_lines="skip", nrows=400).dropna(subset=["productDisplayName"])
    X = pd.DataFrame({"title": styles["productDisplayName"].astype(str)})
    y = styles["articleType"].astype(str).to_numpy(dtype=object)
    before = torch.get_num_threads()
    for wanted in (1, "auto"):
        seen.clear()
        model = CnnLstmClassifier(embedding_dim=8, n_buckets=1024, n_filters=8, lstm_hidden=8, max_length=12,
                                  max_epochs=1, num_threads=wanted, callbacks=[Threads()], progress=False,
                                  early_stopping_patience=None).fit(X, y)
        resolved = model.resolved_params()
        assert seen == [(resolved["num_threads"], resolved["device"])]
        assert resolved["device"] == "cpu" and (wanted == "auto" or resolved["num_threads"] == 1)
    assert torch.get_num_threads() == before  # the setting is put back after fit
