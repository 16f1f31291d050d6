"""The whole path on one catalog: ingest, embed, project, train the four families and the default
selection (``auto``, :mod:`workbench.models.stacked`), evaluate.

``workbench demo`` runs it on the default catalog and then serves the dashboards. On a CPU
the transformer is fine-tuned on a stated sample of the training split; on a GPU on all of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from workbench.store import Workspace
from workbench.store.slices import stored_key

#: Training parameters of the demo on a CPU (small epochs so the pipeline fits in minutes).
CPU_PARAMS: dict[str, dict[str, Any]] = {
    "tfidf": {},
    "xgboost": {"n_estimators": 60, "max_depth": 4, "learning_rate": 0.3},
    "cnn-lstm": {"max_epochs": 4, "num_threads": 1},
    "transformer": {"max_epochs": 1, "max_length": 32},
}
#: Tiny settings for tests and notebooks run on a sample (minutes on two CPU cores).
QUICK_PARAMS: dict[str, dict[str, Any]] = {
    "tfidf": {},
    "xgboost": {"n_estimators": 30, "max_depth": 4},
    "cnn-lstm": {"max_epochs": 2},
    "transformer": {"max_epochs": 1, "max_length": 24, "train_last_n_layers": 1},
}


def training_params(quick: bool | None = None, sample: int | None = None) -> dict[str, dict[str, Any]]:
    """The notebooks' training settings: :data:`QUICK_PARAMS` when ``quick``, or when ``quick``
    is ``None`` and the catalog is a ``sample``; :data:`CPU_PARAMS` otherwise (a copy)."""
    quick = sample is not None if quick is None else quick
    return {k: dict(v) for k, v in (QUICK_PARAMS if quick else CPU_PARAMS).items()}


#: Products of the training split the transformer sees on a CPU (all of them on a GPU).
CPU_TRANSFORMER_SAMPLE = 3000
MODELS = ("tfidf", "xgboost", "cnn-lstm", "transformer", "auto")


def _projection_is_current(ws: Workspace) -> bool:
    """Whether the stored projection has exactly the embedded products (nothing to redo)."""
    if not (ws.has_table("projection") and ws.has_table("product_embeddings")):
        return False
    from workbench.embeddings.encoder import model_id

    mid = model_id("default")
    return bool(ws.scalar(
        "SELECT count(*) = (SELECT count(*) FROM product_embeddings WHERE model = ?) AND count(*) > 0 "
        "FROM projection WHERE model = ?",
        [stored_key(ws, "product_embeddings", mid), stored_key(ws, "projection", mid)]))


@dataclass
class PipelineReport:
    """Seconds per step, the run ids trained, and the device used."""

    device: str
    steps: dict[str, float] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"pipeline on {self.device}: {sum(self.steps.values()):.0f} s in all"]
        lines += [f"  {name:<22} {sec:7.1f} s" for name, sec in self.steps.items()]
        return "\n".join(lines)


def run_pipeline(ws: Workspace, dataset: str = "fashion", *, models=MODELS, sample: int | None = None,
                 split: str = "grouped", device: str | None = None, transformer_sample: int | None = None,
                 params: dict[str, dict[str, Any]] | None = None,
                 echo: Callable[[str], None] = print) -> PipelineReport:
    """Run every step on ``dataset`` into ``ws``; steps already done are cheap (caches, fingerprints).

    ``sample`` ingests a seeded sample of the catalog; ``transformer_sample`` overrides the
    transformer's training sample (default: the whole split on a GPU, a stated sample on a CPU).
    """
    from workbench.embeddings.category_neighbours import store_category_neighbours
    from workbench.embeddings.embed import embed_products
    from workbench.embeddings.encoder import choose_device
    from workbench.runs.evaluation import evaluate_run
    from workbench.catalog.ingest import ingest_dataset
    from workbench.embeddings.projection import project
    from workbench.catalog.relabel import load_taxonomy
    from workbench.runs.training import train_models

    device = choose_device(device)
    report = PipelineReport(device)
    params = {k: dict(v) for k, v in (params or CPU_PARAMS).items()}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        echo(f"[{name}] ...")
        t0 = time.perf_counter()
        out = fn()
        report.steps[name] = time.perf_counter() - t0
        echo(f"[{name}] done in {report.steps[name]:.1f} s")
        return out

    echo(str(step("ingest", lambda: ingest_dataset(ws, dataset, sample=sample))))
    echo(str(step("embed products", lambda: embed_products(ws, device=device))))
    step("category neighbours", lambda: store_category_neighbours(ws, load_taxonomy(ws), k=10))
    if _projection_is_current(ws):
        echo("[UMAP projection] every product already has a position; kept")
    else:
        step("UMAP projection", lambda: project(ws, sample=20_000))
    for kind in models:
        kind_params = dict(params.get(kind, {}))
        if kind in ("xgboost", "transformer", "cnn-lstm"):
            kind_params.setdefault("device", device)
        kind_sample = None
        if kind == "transformer":
            kind_sample = transformer_sample if transformer_sample is not None else (
                None if device == "cuda" else CPU_TRANSFORMER_SAMPLE)
        ids = step(f"train {kind}" + (f" (sample {kind_sample})" if kind_sample else ""),
                   lambda: train_models(ws, [kind], split=split, sample=kind_sample,
                                        params={kind: kind_params} if kind_params else None, echo=echo))
        report.run_ids += ids
    step("evaluate", lambda: [evaluate_run(ws, run_id) for run_id in report.run_ids])
    return report
