"""Product categorization workbench.

The notebook API mirrors the command line::

    import workbench as wb
    ws = wb.Workspace("workspace")
    wb.ingest_dataset(ws, "fashion")          # workbench ingest --dataset fashion
    wb.embed_products(ws); wb.project(ws)     # workbench embed; workbench project
    runs = wb.train_models(ws, ["tfidf", "xgboost", "transformer", "cnn-lstm"])   # workbench train
    wb.evaluate_run(ws, runs[0])              # workbench evaluate --run ID
    wb.compare_runs(ws)                       # workbench compare
    wb.classify_file(ws, "new.csv", dataset="fashion")   # workbench classify
    wb.build_queue(ws); wb.retrain(ws)        # workbench queue build; workbench retrain
    wb.run_pipeline(ws)                       # workbench demo (without serving)

Heavy parts (torch, sentence-transformers, Panel) are imported on first use.
"""

from importlib import import_module

from workbench.info import workspace_info
from workbench.ingest import ingest_dataset, ingest_file
# imported here, not lazily: the function shares its module's name, and a lazy import would
# leave the module, not the function, as ``workbench.live_accuracy``
from workbench.live_accuracy import live_accuracy
from workbench.mapping import ColumnMapping
from workbench.relabel import load_taxonomy
from workbench.splits import split_frame
from workbench.store import Workspace
from workbench.taxonomy import Taxonomy

__version__ = "0.1.0"

_LAZY = {
    "embed_products": "workbench.embed",
    "embed_texts": "workbench.embed",
    "load_product_embeddings": "workbench.embed",
    "project": "workbench.projection",
    "store_category_neighbours": "workbench.category_neighbours",
    "train_models": "workbench.training",
    "compare_runs": "workbench.training",
    "list_runs": "workbench.runs",
    "load_predictions": "workbench.runs",
    "evaluate_run": "workbench.evaluate",
    "publish_thresholds": "workbench.thresholds",
    "published_thresholds": "workbench.thresholds",
    "classify_file": "workbench.shelving",
    "export_shelved": "workbench.shelving",
    "build_queue": "workbench.review_queue",
    "submit_review": "workbench.reviews",
    "undo_last": "workbench.reviews",
    "retrain": "workbench.retraining",
    "run_pipeline": "workbench.pipeline",
    "serve_app": "workbench.serve",
}


def __getattr__(name: str):
    """Import the heavy parts of the API on first use."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = ["ColumnMapping", "Taxonomy", "Workspace", "__version__", "ingest_dataset", "ingest_file",
           "live_accuracy", "load_taxonomy", "split_frame", "workspace_info", *_LAZY]
