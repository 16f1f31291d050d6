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
    wb.find_label_issues(ws)                  # workbench label-issues
    wb.build_queue(ws, n_suspect=50)          # workbench queue build --suspect 50
    wb.retrain(ws)                            # workbench retrain
    wb.compare_decisions(ws)                  # workbench compare --decision argmax,min-risk
    wb.promote(ws, runs[0], by="ana")         # workbench promote RUN
    wb.explain(ws, None, [{"title": "Nike Men Running Shoes"}])   # workbench explain "TITLE"
    wb.monitor_report(ws).crossed             # workbench monitor
    wb.run_pipeline(ws)                       # workbench demo (without serving)

Heavy parts (torch, sentence-transformers, Panel) are imported on first use.
"""

from importlib import import_module

from workbench.catalog.mapping import ColumnMapping
from workbench.catalog.taxonomy import Taxonomy
from workbench.store import Workspace

__version__ = "0.1.0"

_LAZY = {
    "workspace_info": "workbench.catalog.info",
    "ingest_dataset": "workbench.catalog.ingest",
    "ingest_file": "workbench.catalog.ingest",
    "load_taxonomy": "workbench.catalog.relabel",
    "split_frame": "workbench.catalog.splits",
    "embed_products": "workbench.embeddings.embed",
    "embed_texts": "workbench.embeddings.embed",
    "load_product_embeddings": "workbench.embeddings.embed",
    "project": "workbench.embeddings.projection",
    "store_category_neighbours": "workbench.embeddings.category_neighbours",
    "train_models": "workbench.runs.training",
    "compare_runs": "workbench.runs.training",
    "list_runs": "workbench.runs.records",
    "load_predictions": "workbench.runs.records",
    "evaluate_run": "workbench.runs.evaluation",
    "default_run": "workbench.runs.selection",
    "Predictor": "workbench.runs.predictor",
    "explain": "workbench.runs.explain",
    "misleading_terms": "workbench.runs.explain",
    "publish_thresholds": "workbench.loop.thresholds",
    "published_thresholds": "workbench.loop.thresholds",
    "classify_file": "workbench.loop.shelving",
    "export_shelved": "workbench.loop.shelving",
    "build_queue": "workbench.loop.review_queue",
    "submit_review": "workbench.loop.reviews",
    "undo_last": "workbench.loop.reviews",
    "retrain": "workbench.loop.retraining",
    "find_label_issues": "workbench.loop.label_issues",
    "compare_decisions": "workbench.runs.decision_comparison",
    "live_accuracy": "workbench.loop.live_accuracy",
    "run_pipeline": "workbench.runs.pipeline",
    "serve_app": "workbench.app.serve",
    "promote": "workbench.runs.registry",
    "set_shadow": "workbench.runs.registry",
    "serving_run": "workbench.runs.registry",
    "serve_api": "workbench.service.server",
    "create_app": "workbench.service.api",
    "monitor_report": "workbench.service.monitoring",
    "sync_workspace": "workbench.service.sync",
}


def __getattr__(name: str):
    """Import the heavy parts of the API on first use."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = ["ColumnMapping", "Taxonomy", "Workspace", "__version__", *_LAZY]
