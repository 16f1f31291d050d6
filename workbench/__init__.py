"""Product categorization workbench: the notebook API (``import workbench as wb``).

The notebook API mirrors the command line::

    import workbench as wb
    wb.notebook()                             # HoloViews/Panel with BokehJS inline (figures offline)
    ws = wb.Workspace("workspace")
    wb.inspect_file("my.csv")                 # workbench inspect FILE
    wb.ingest_dataset(ws, "fashion")          # workbench ingest --dataset fashion
    wb.embed_products(ws); wb.project(ws)     # workbench embed; workbench project
    runs = wb.train_models(ws, ["tfidf", "xgboost", "transformer", "cnn-lstm"])   # workbench train
    result = wb.evaluate_run(ws, runs[0])     # workbench evaluate --run ID
    result.curve, result.per_category, result.confusion    # its tables as DataFrames
    wb.plot_coverage(result)                  # figures from what the evaluate calls return
    wb.compare_runs(ws)                       # workbench compare
    wb.classify(ws, ["Nike Men Black Running Shoes"])      # categories, nothing stored
    wb.classify_file(ws, "new.csv", dataset="fashion")     # workbench classify
    wb.find_label_issues(ws)                  # workbench label-issues
    wb.build_queue(ws, n_suspect=50)          # workbench queue build --suspect 50
    wb.retrain(ws)                            # workbench retrain
    wb.compare_decisions(ws)                  # workbench compare --decision argmax,min-risk
    wb.promote(ws, runs[0], by="ana")         # workbench promote RUN
    wb.explain(ws, None, [{"title": "Nike Men Running Shoes"}])   # workbench explain "TITLE"
    wb.monitor_report(ws).crossed             # workbench monitor
    wb.run_cycle(ws, by="ana")                # workbench cycle (one step of the retraining loop)
    wb.run_pipeline(ws)                       # workbench demo (without serving)
    wb.taxonomy_change(ws, "rename", "A > B", "C", by="ana")  # workbench taxonomy rename "A > B" C --by ana

Heavy parts (torch, sentence-transformers, HoloViews, Panel) are imported on first use.
``dir(wb)`` lists every name; ``help(wb.NAME)`` says what each does.

Names, by step: {names}
"""

from importlib import import_module

from workbench.catalog.mapping import ColumnMapping
from workbench.catalog.taxonomy import Taxonomy
from workbench.store import Workspace

__version__ = "0.1.0"

_LAZY = {
    # notebooks
    "notebook": "workbench.notebooks.setup",
    # catalog
    "inspect_file": "workbench.notebooks.frames",
    "workspace_info": "workbench.catalog.info",
    "ingest_dataset": "workbench.catalog.ingest",
    "ingest_file": "workbench.catalog.ingest",
    "load_taxonomy": "workbench.catalog.relabel",
    "split_frame": "workbench.catalog.splits",
    # embeddings
    "embed_products": "workbench.embeddings.embed",
    "embed_product_images": "workbench.embeddings.image_embed",
    "embed_texts": "workbench.embeddings.embed",
    "load_product_embeddings": "workbench.embeddings.embed",
    "project": "workbench.embeddings.projection",
    "store_category_neighbours": "workbench.embeddings.category_neighbours",
    "map_catalog": "workbench.embeddings.taxonomy_mapping",
    # runs
    "train_models": "workbench.runs.training",
    "compare_runs": "workbench.runs.training",
    "list_runs": "workbench.notebooks.frames",
    "load_predictions": "workbench.runs.records",
    "evaluate_run": "workbench.runs.evaluation",
    "default_run": "workbench.runs.selection",
    "Predictor": "workbench.runs.predictor",
    "compare_decisions": "workbench.runs.decision_comparison",
    "run_pipeline": "workbench.runs.pipeline",
    "promote": "workbench.runs.registry",
    "set_shadow": "workbench.runs.registry",
    "serving_run": "workbench.runs.registry",
    # figures from what the evaluate calls return
    "plot_coverage": "workbench.notebooks.figures",
    "plot_levels": "workbench.notebooks.figures",
    "plot_severity": "workbench.notebooks.figures",
    "plot_calibration": "workbench.notebooks.figures",
    "plot_confusion": "workbench.notebooks.figures",
    # loop
    "classify": "workbench.loop.classify_titles",
    "explain": "workbench.runs.explain",
    "misleading_terms": "workbench.runs.explain",
    "publish_thresholds": "workbench.loop.thresholds",
    "published_thresholds": "workbench.loop.thresholds",
    "classify_file": "workbench.loop.shelving",
    "classifications": "workbench.notebooks.frames",
    "export_shelved": "workbench.loop.shelving",
    "build_queue": "workbench.loop.review_queue",
    "queue_items": "workbench.notebooks.frames",
    "submit_review": "workbench.loop.reviews",
    "undo_last": "workbench.loop.reviews",
    "retrain": "workbench.loop.retraining",
    "find_label_issues": "workbench.loop.label_issues",
    "live_accuracy": "workbench.loop.live_accuracy",
    "cold_start": "workbench.loop.cold_start",
    "taxonomy_change": "workbench.loop.taxonomy_changes",
    "taxonomy_history": "workbench.loop.taxonomy_changes",
    # serving
    "serve_app": "workbench.app.serve",
    "serve_api": "workbench.service.server",
    "create_app": "workbench.service.api",
    "monitor_report": "workbench.service.monitoring",
    "sync_workspace": "workbench.service.sync",
    "run_cycle": "workbench.service.cycle",
    "cycle_history": "workbench.service.cycle_records",
}

__all__ = ["ColumnMapping", "Taxonomy", "Workspace", *_LAZY]
__doc__ = __doc__.replace("{names}", ", ".join(__all__) + ".")


def __getattr__(name: str):
    """Import the heavy parts of the API on first use."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Every name of the notebook API (tab completion), the lazy ones included."""
    return sorted(set(globals()) | set(__all__))
