"""Pure plotting functions of the dashboards: DataFrames in, HoloViews objects out.

One module per view; nothing here imports Panel or touches the workspace, so every figure can
be built and inspected in a notebook or a test (``holoviews.render(obj)`` gives the Bokeh figure).
"""

from workbench.plots.calibration import reliability_curve
from workbench.plots.comparison import coverage_curves, level_accuracy_bars, operating_point_marker
from workbench.plots.confusion import confusion_heatmap
from workbench.plots.embedding import embedding_map
from workbench.plots.severity import severity_bars

__all__ = ["confusion_heatmap", "coverage_curves", "embedding_map", "level_accuracy_bars",
           "operating_point_marker", "reliability_curve", "severity_bars"]
