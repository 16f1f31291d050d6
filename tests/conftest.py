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
def fashion_ws(tmp_path_factory):
    """A workspace with a seeded sample of 2,000 real fashion products, taxonomy and splits."""
    from workbench import Workspace, ingest_dataset

    ws = Workspace(tmp_path_factory.mktemp("fashion_ws"))
    ingest_dataset(ws, "fashion", sample=2000, seed=0)
    return ws


@pytest.fixture(scope="session")
def flipkart_ws(tmp_path_factory):
    """A workspace with a seeded sample of 2,000 real Flipkart products (depth 3, rare leaves merged)."""
    from workbench import Workspace, ingest_dataset

    ws = Workspace(tmp_path_factory.mktemp("flipkart_ws"))
    ingest_dataset(ws, "flipkart", sample=2000, seed=0, min_count=5)
    return ws


@pytest.fixture(scope="session")
def evaluated_ws(tmp_path_factory):
    """1,500 real fashion products with two evaluated tfidf runs on the grouped split: a weak one
    (400 training products) and one on the whole training part (dashboards, review loop)."""
    from workbench import Workspace, ingest_dataset
    from workbench.evaluate import evaluate_run
    from workbench.training import train_models

    ws = Workspace(tmp_path_factory.mktemp("evaluated_ws"))
    ingest_dataset(ws, "fashion", sample=1500, seed=0)
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
