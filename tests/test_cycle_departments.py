"""`workbench cycle` when the serving run is a department run (one model per department): the
cycle retrains the same family per the same column, with the serving run's parameters, and says
so; a configured candidate may name its own department column."""

from __future__ import annotations

import pytest

from workbench.errors import WorkbenchError
from workbench.runs.records import get_run
from workbench.runs.registry import promote
from workbench.runs.training import train_models
from workbench.service.cycle import run_cycle
from workbench.service.cycle_config import check_setting, cycle_config
from workbench.service.cycle_triggers import candidate_specs
from workbench.service.files import ServiceFiles


def test_a_department_run_is_retrained_per_department_by_the_cycle(sample_workspace):
    ws = sample_workspace("cycle_departments", 400)
    [serving] = train_models(ws, ["tfidf"], "grouped", department="department", params={"tfidf": {"C": 1.0}})
    promote(ws, serving, by="ana", force=True, note="one model per department")
    [spec] = candidate_specs(ws, cycle_config(ServiceFiles(ws.path)), serving)
    assert spec["kind"] == "tfidf" and spec["department"] == "department" and spec["params"]["C"] == 1.0
    opened = run_cycle(ws, by="ana", retrain_now=True)
    assert opened.exit_code == 0 and "tfidf per department" in opened.message, opened.message
    trained = run_cycle(ws, by="ana")
    assert trained.exit_code == 0, trained.message
    [candidate] = trained.figures["candidates"]
    run = get_run(ws, candidate)
    assert run["model"] == "tfidf" and run["department"] == "department"
    assert run["params"]["base_params"]["C"] == 1.0 and run["params"]["department_column"] == "department"
    assert trained.figures["specs"][0]["department"] == "department"


def test_a_configured_candidate_names_its_department_column_or_gets_one_line():
    [item] = check_setting("candidates", '[{"kind": "tfidf", "department": "gender"}]')
    assert item["department"] == "gender"
    assert check_setting("candidates", "tfidf")[0]["department"] is None
    with pytest.raises(WorkbenchError, match="department must be a column name"):
        check_setting("candidates", [{"kind": "tfidf", "department": 3}])
