"""State of the embedding map: the stored 2-D projection, coloured by category or by right/wrong."""

from __future__ import annotations

import pandas as pd
import param

import workbench.app.data as data
from workbench.plots import embedding_map
from workbench.embeddings.image_encoder import IMAGE_MODEL
from workbench.plots.embedding import RASTERIZE_ABOVE
from workbench.store import Workspace

COLOR_CATEGORY = "category"
COLOR_OUTCOME = "right / wrong"
OUTCOMES = dict(zip(data.OUTCOME_NAMES, ("#2ca02c", "#d62728", "#c7c7c7")))


def vector_label(model: str) -> str:
    """How the map names a projection: by the kind of vector and the model."""
    return f"image vectors ({model})" if model.startswith(IMAGE_MODEL) else f"text vectors ({model})"


class MapState(param.Parameterized):
    """Which projection, what colours the points, and from how many points to rasterise."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    part = param.Selector(default="test", objects=["test", "valid"])
    model = param.Selector(default=None, objects=[], label="Place products by")
    color_by = param.Selector(default=COLOR_CATEGORY, objects=[COLOR_CATEGORY, COLOR_OUTCOME], label="Colour by")
    level = param.Integer(default=1, bounds=(1, 1), label="Category level")
    run_id = param.Selector(default=None, objects=[], label="Run (for right / wrong)")
    rasterize_above = param.Integer(default=RASTERIZE_ABOVE, bounds=(1, None))

    def __init__(self, **params):
        super().__init__(**params)
        self._frame_key, self._frame = None, None
        models = data.projection_models(self.workspace)
        # text vectors first; image vectors (workbench project --images) named as such
        models = sorted(models, key=lambda m: m.startswith(IMAGE_MODEL))
        self.param.model.objects = {vector_label(m): m for m in models}
        if self.model is None and models:
            self.model = models[0]
        tax = data.taxonomy(self.workspace)
        self.param.level.bounds = (1, max(tax.depth, 1))
        self.level = min(max(self.level, 1), max(tax.depth, 1))
        runs = data.evaluated_runs(self.workspace, self.part)
        self.param.run_id.objects = runs["run_id"].tolist()[::-1]
        if self.run_id is None and len(runs):
            self.run_id = runs["run_id"].iloc[-1]

    @property
    def has_projection(self) -> bool:
        """Whether the workspace has a stored projection."""
        return self.model is not None

    def level_names(self) -> dict[int, str]:
        """``{level: name}`` of the taxonomy."""
        return dict(enumerate(data.taxonomy(self.workspace).level_names, 1))

    @param.depends("model", "color_by", "level", "run_id")
    def frame(self) -> pd.DataFrame:
        """``product_id, x, y, title, category, colour`` (``colour``: what the points are coloured by,
        categorical). Built from the process-wide cached projection without copying its text."""
        key = (self.model, self.color_by, self.level, self.run_id)
        if self._frame_key == key:
            return self._frame
        proj = data.projection(self.workspace, self.model)
        column = f"level_{self.level}" if f"level_{self.level}" in proj else "leaf"
        if self.color_by == COLOR_OUTCOME and self.run_id is not None:
            colour = data.projection_outcome(self.workspace, self.model, self.run_id, self.part)
        else:
            colour = proj[column].array
        out = proj[["product_id", "x", "y", "title"]].assign(category=proj["leaf"].array, colour=colour)
        self._frame_key, self._frame = key, out
        return out

    def n_points(self) -> int:
        """Products in the projection."""
        return len(data.projection(self.workspace, self.model))

    @param.depends("model", "color_by", "level", "run_id", "rasterize_above")
    def plot(self):
        """The map: glyphs with hover up to ``rasterize_above`` points, datashader above."""
        frame = self.frame()
        key = OUTCOMES if self.color_by == COLOR_OUTCOME else None
        name = self.level_names().get(self.level, f"level {self.level}")
        title = (f"Products coloured by {name}" if self.color_by == COLOR_CATEGORY
                 else "Products coloured by right / wrong")
        return embedding_map(frame, "colour", rasterize_above=self.rasterize_above,
                             hover=("title", "category"), title=title, color_key=key)
