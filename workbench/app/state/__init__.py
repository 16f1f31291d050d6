"""One ``param.Parameterized`` state class per dashboard view, usable without a browser."""

from workbench.app.state.categories import CategoryState
from workbench.app.state.classify import ClassifyState
from workbench.app.state.comparison import ComparisonState
from workbench.app.state.confusion import ConfusionState
from workbench.app.state.embedding import MapState
from workbench.app.state.severity import SeverityState
from workbench.app.state.thresholds import ThresholdState

__all__ = ["CategoryState", "ClassifyState", "ComparisonState", "ConfusionState", "MapState", "SeverityState",
           "ThresholdState"]
