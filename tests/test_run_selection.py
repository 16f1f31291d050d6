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
