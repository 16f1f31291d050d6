"""Project set-up files agree with each other; the data home is searched in order."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from workbench.catalog import datasets
from workbench.errors import WorkbenchError
from workbench.paths import PROJECT_ROOT

CONDA_NAMES = {"python-duckdb": "duckdb"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    env = yaml.safe_load((PROJECT_ROOT / "environment.yml").read_text())
    listed = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        elif _name(dep) not in ("python", "pip"):
            listed.add(CONDA_NAMES.get(_name(dep), _name(dep)))
    assert listed == wanted


def test_torch_is_pinned_everywhere():
    assert '"torch==2.13.*"' in (PROJECT_ROOT / "pyproject.toml").read_text()
    assert "torch==2.13.0" in (PROJECT_ROOT / "constraints.txt").read_text()
    assert "-c constraints.txt" in (PROJECT_ROOT / "Makefile").read_text()


def test_readme_has_exactly_the_two_setup_commands():
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_data_home_search_order(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "fashion").mkdir(parents=True)
    (home / "fashion" / "styles.csv").write_text("id,productDisplayName\n1,x\n")
    monkeypatch.setenv("WORKBENCH_DATA_HOME", str(home))
    assert datasets.locate("fashion/styles.csv") == home / "fashion" / "styles.csv"
    monkeypatch.delenv("WORKBENCH_DATA_HOME")
    shared = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion" / "styles.csv"
    if shared.exists():
        assert datasets.locate("fashion/styles.csv") == shared


def test_missing_and_offline_names_every_place_it_looked(tmp_path, monkeypatch):
    spec = datasets.CatalogFile("x/file.csv", "0" * 64, ("http://127.0.0.1:9/file.csv",))
    monkeypatch.setitem(datasets.FILES, "x/file.csv", spec)
    monkeypatch.setattr(datasets, "user_cache_dir", lambda: tmp_path / "cache")
    homes = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(WorkbenchError) as err:
        datasets.locate("x/file.csv", homes=homes)
    message = str(err.value)
    assert str(tmp_path / "a") in message and str(tmp_path / "b") in message
    assert "download failed" in message and "WORKBENCH_DATA_HOME" in message and "\n" not in message


def test_download_checks_sha256(tmp_path, monkeypatch):
    source = PROJECT_ROOT.parent / "shared" / "datasets" / "flipkart" / "flipkart_1050.csv"
    if not source.exists():
        pytest.skip("shared datasets not present")
    good = datasets.CatalogFile("f/ok.csv", datasets.FILES["flipkart/flipkart_1050.csv"].sha256, (source.as_uri(),))
    assert datasets._download(good, tmp_path).read_bytes() == source.read_bytes()
    bad = datasets.CatalogFile("f/bad.csv", "1" * 64, (source.as_uri(),))
    with pytest.raises(WorkbenchError, match="sha256"):
        datasets._download(bad, tmp_path)
    assert not (tmp_path / "f" / "bad.csv").exists()


def test_the_notebook_api_mirrors_the_command_line():
    import workbench

    for name in workbench.__all__:
        assert callable(getattr(workbench, name)) or name == "__version__", name
    from workbench.cli.main import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"ingest", "info", "embed", "project", "train", "runs", "compare", "evaluate", "serve", "demo",
            "classify", "export", "queue", "retrain", "users", "live-accuracy", "shelve-preview"} <= commands


def test_demo_serves_with_every_option_of_serve_at_its_default():
    from workbench.cli.commands.serve import serve_arguments
    from workbench.cli.main import build_parser

    served = vars(build_parser().parse_args(["serve", "--workspace", "/tmp/ws", "--port", "5099"]))
    demo = vars(serve_arguments("/tmp/ws", ["--port", "5099"]))
    for args in (served, demo):
        args.pop("command", None)
    assert demo == served
    with_origin = serve_arguments("/tmp/ws", ["--address", "0.0.0.0", "--allow-websocket-origin", "wb.example.com:5006"])
    assert with_origin.address == "0.0.0.0" and with_origin.origins == ["wb.example.com:5006"]
