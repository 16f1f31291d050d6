"""The Panel dashboards: per-view state classes, cached data access, pages and one template.

``build_app(AppContext(workspace))`` builds the app of one browser session;
:func:`workbench.app.serve.serve_app` serves it. Plotting lives in :mod:`workbench.plots` (no
Panel there). The names below are imported on first use, so ``workbench.security.auth`` (used by the
command line) does not load Panel, and no module of this package imports the package itself.
"""

from importlib import import_module

_LAZY = {
    "AppContext": "workbench.app.context",
    "AppSettings": "workbench.app.context",
    "CategoryState": "workbench.app.state.categories",
    "ClassifyState": "workbench.app.state.classify",
    "ComparisonState": "workbench.app.state.comparison",
    "ConfusionState": "workbench.app.state.confusion",
    "MapState": "workbench.app.state.embedding",
    "MonitoringState": "workbench.app.state.monitoring",
    "SeverityState": "workbench.app.state.severity",
    "ThresholdState": "workbench.app.state.thresholds",
    "build_app": "workbench.app.template",
    "discover_pages": "workbench.app.template",
}


def __getattr__(name: str):
    """Import a public name of the dashboards on first use."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench.app' has no attribute {name!r}")


__all__ = sorted(_LAZY)
