"""The Panel dashboards: per-view state classes, cached data access, pages and one template.

``build_app(AppContext(workspace))`` builds the app of one browser session; :func:`workbench.serve.serve_app`
serves it. Plotting lives in :mod:`workbench.plots` (no Panel there).
"""

from workbench.app.context import AppContext, AppSettings
from workbench.app.state import (ClassifyState, ComparisonState, ConfusionState, MapState, SeverityState,
                                 ThresholdState)
from workbench.app.template import build_app, discover_pages

__all__ = ["AppContext", "AppSettings", "ClassifyState", "ComparisonState", "ConfusionState", "MapState",
           "SeverityState", "ThresholdState", "build_app", "discover_pages"]
