"""One rule picks the run used when none is named: best validation accuracy, never a flagged run."""

import pytest

from workbench.errors import WorkbenchError
from workbench.loop.shelving import default_run as shelving_default
from workbench.runs.records import list_runs
from workbench.runs.selection import default_run, ranked_runs, run_flags
from workbench.runs.training import train_models


@pytest.fixture(scope="module")
def three_runs(sample_workspace):
    """Real fashion products: a full tfidf run, a sample-trained one (newest), and a full one with
    a weak C (the worst unflagged)."""
    ws = sample_workspace("selection_ws", 1200)
    full = train_models(ws, ["tfidf"], "grouped", seed=0)[0]
    weak = train_models(ws, ["tfidf"], "grouped", params={"tfidf": {"C": 0.001}}, seed=0)[0]
    sampled = train_models(ws, ["tfidf"], "grouped", sample=200, seed=0)[0]
    return ws, full, weak, sampled


def test_default_is_the_best_unflagged_run_not_the_newest(three_runs):
    ws, full, weak, sampled = three_runs
    runs = list_runs(ws).set_index("run_id")
    assert runs.loc[full, "metrics"]["valid"]["accuracy"] >= runs.loc[weak, "metrics"]["valid"]["accuracy"]
    assert list_runs(ws)["run_id"].iloc[-1] == sampled
    assert default_run(ws) == full
    assert shelving_default(ws) == full


def test_sample_runs_are_flagged_and_ranked_last(three_runs):
    ws, full, weak, sampled = three_runs
    ranked = ranked_runs(ws)
    flagged = ranked.set_index("run_id").loc[sampled, "flags"]
    assert flagged == ["trained on a sample of 200 products"]
    assert ranked["run_id"].iloc[-1] == sampled or not ranked.set_index("run_id").loc[weak, "eligible"]
    assert ranked.iloc[0]["run_id"] == full


def test_sanity_bar_flags_a_bad_run():
    run = {"sample": None, "metrics": {"valid": {"accuracy": 0.31}}}
    assert run_flags(run) == ["validation accuracy 31.0% is below the sanity bar 50%"]
    assert run_flags({"sample": None, "metrics": {"valid": {"accuracy": 0.9}}}) == []


def test_only_flagged_runs_warn_and_no_runs_fail(sample_workspace, tmp_path):
    ws = sample_workspace("selection_flagged_ws", 600)
    sampled = train_models(ws, ["tfidf"], "grouped", sample=150, seed=0)[0]
    said = []
    assert default_run(ws, warn=said.append) == sampled
    assert said and said[0].startswith(f"every run is flagged; using {sampled} (trained on a sample of 150")
    from workbench import Workspace
    with pytest.raises(WorkbenchError, match="no run with a saved model in .*; train one with `workbench train`"):
        default_run(Workspace(tmp_path / "empty"))


def test_a_promoted_run_is_the_default_of_every_surface(three_runs, capsys):
    """Promote the weak run: the command line (classify, evaluate), the API's serving run, the
    pages' run pickers and the notebook name all switch to it; without a model it no longer counts."""
    import shutil

    import workbench as wb
    import workbench.app.data as data
    from workbench.app.state.classify import ClassifyState
    from workbench.cli.main import main
    from workbench.runs.evaluation import evaluate_run
    from workbench.runs.predictor import model_dir
    from workbench.runs.registry import promote, serving_run

    ws, full, weak, sampled = three_runs
    for run_id in (full, weak, sampled):
        evaluate_run(ws, run_id)
    assert data.default_run_id(ws) == full
    promote(ws, weak, by="lead", force=True, note="selection test")
    assert default_run(ws) == shelving_default(ws) == wb.default_run(ws) == weak
    assert serving_run(ws).run_id == weak and serving_run(ws).source == "promoted"
    assert data.default_run_id(ws) == weak  # every page opens on it
    assert ClassifyState(workspace=ws).run_id == weak
    assert main(["evaluate", "--workspace", str(ws.path), "--json"]) == 0
    assert '"run_id": "%s"' % weak in capsys.readouterr().out
    assert default_run(ws, promoted=False) == full  # the rule alone
    assert set(data.evaluated_runs(ws)["run_id"]) == {full, weak, sampled}  # every complete run is listed
    # a promoted run whose model is gone no longer serves: the rule decides again
    folder = model_dir(ws, weak)
    shutil.move(folder, folder.with_name("model-away"))
    try:
        assert default_run(ws) == full and serving_run(ws).source == "default"
    finally:
        shutil.move(folder.with_name("model-away"), folder)


def test_a_run_without_its_model_gets_one_error_on_every_road(three_runs):
    """The API's loader, classify, the Classify page and the promotion gate all say the same line."""
    import shutil

    from workbench.app.state.classify import ClassifyState
    from workbench.catalog.relabel import load_taxonomy
    from workbench.loop.shelving import classify_products
    from workbench.runs.predictor import Predictor, model_dir
    from workbench.runs.registry import promote

    ws, full, weak, sampled = three_runs
    folder = model_dir(ws, sampled)
    shutil.move(folder, folder.with_name("model-away"))
    said = f"run {sampled} has no saved model in {folder}; choose a run that has one"
    fix = "or train one with `workbench train`"
    try:
        calls = [lambda: Predictor.load(folder, sampled, load_taxonomy(ws)),
                 lambda: Predictor.for_run(ws, sampled),
                 lambda: classify_products(ws, ["x"], run_id=sampled),
                 lambda: promote(ws, sampled, by="lead", force=True, note="no model")]
        for call in calls:
            with pytest.raises(WorkbenchError) as caught:
                call()
            text = str(caught.value)
            assert text.startswith(said) and text.endswith(fix), text
        state = ClassifyState(workspace=ws)
        state.param.run_id.objects = [*state.param.run_id.objects, sampled]
        state.run_id = sampled
        with pytest.raises(WorkbenchError, match=f"^run {sampled} has no saved model in "):
            state.classify_upload("a.csv", b"title\nNike Men Blue T-shirt\n", limit_bytes=10**6, max_rows=10)
    finally:
        shutil.move(folder.with_name("model-away"), folder)
