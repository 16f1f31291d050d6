"""Shared fixtures: small workspaces built from real catalog samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Folder for screenshots and other test output (kept after the run)."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def sample_workspace(tmp_path_factory):
    """A factory: ``sample_workspace(name, n, seed=0, dataset="fashion", **ingest_options)`` is a
    fresh workspace holding a seeded sample of ``n`` real products (taxonomy and splits built)."""
    from workbench import Workspace, ingest_dataset

    def make(name: str, n: int, seed: int = 0, dataset: str = "fashion", **options):
        ws = Workspace(tmp_path_factory.mktemp(name))
        ingest_dataset(ws, dataset, sample=n, seed=seed, **options)
        return ws

    return make


@pytest.fixture(scope="session")
def fashion_ws(sample_workspace):
    """A workspace with a seeded sample of 2,000 real fashion products, taxonomy and splits."""
    return sample_workspace("fashion_ws", 2000)


@pytest.fixture(scope="session")
def flipkart_ws(sample_workspace):
    """A workspace with a seeded sample of 2,000 real Flipkart products (depth 3, rare leaves merged)."""
    return sample_workspace("flipkart_ws", 2000, dataset="flipkart", min_count=5)


@pytest.fixture(scope="session")
def evaluated_ws(sample_workspace):
    """1,500 real fashion products with two evaluated tfidf runs on the grouped split: a weak one
    (400 training products) and one on the whole training part (dashboards, review loop)."""
    from workbench.runs.evaluation import evaluate_run
    from workbench.runs.training import train_models

    ws = sample_workspace("evaluated_ws", 1500)
    runs = (train_models(ws, ["tfidf"], "grouped", sample=400, seed=0)
            + train_models(ws, ["tfidf"], "grouped", seed=0))
    for run_id in runs:
        evaluate_run(ws, run_id)
    return ws


@pytest.fixture(scope="module")
def one_torch_thread():
    """Train torch models on one thread: on two shared cores it is the fastest and deterministic."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def hostile_ws(tmp_path_factory):
    """Real fashion products as a hostile seller supplies them: script and formulas in titles,
    descriptions, brands and category names, one evaluated tfidf run, a projection, published
    thresholds and a review queue of hostile new arrivals (``tests/_hostile_setup.py``)."""
    from _hostile_setup import build

    return build(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="session")
def apparel_ws(tmp_path_factory):
    """1,500 real fashion Apparel products (one department) with two tfidf runs on the grouped
    split: ``.weak`` (150 training products) and ``.full`` (the whole training part); ``.ws`` is
    the workspace (the service tests)."""
    from types import SimpleNamespace

    from tests._service_setup import build_apparel_workspace
    from workbench import Workspace

    root = tmp_path_factory.mktemp("apparel_ws")
    weak, full = build_apparel_workspace(root)
    return SimpleNamespace(ws=Workspace(root), weak=weak, full=full)
