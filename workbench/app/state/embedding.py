"""State of the embedding map: the stored 2-D projection, coloured by category (with a searchable
highlight for many categories) or by right/wrong; the product under the mouse; the products
inside a box or lasso selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import param

import workbench.app.data as data
from workbench.app import drill
from workbench.app.thumbnails import SMALL, image_roots, thumbnail_uri
from workbench.plots import embedding_map
from workbench.embeddings.image_encoder import IMAGE_MODEL
from workbench.plots.embedding import MAP_HEIGHT, MAP_WIDTH, RASTERIZE_ABOVE, hover_points
from workbench.store import Workspace

COLOR_CATEGORY = "category"
COLOR_OUTCOME = "right / wrong"
OUTCOMES = dict(zip(data.OUTCOME_NAMES, ("#2ca02c", "#d62728", "#c7c7c7")))
#: how close (in screen pixels) the mouse must be to a product for its tooltip
HOVER_PX = 8


def inside_polygon(x: np.ndarray, y: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Which points lie inside the polygon (``xs, ys``; even-odd rule), vectorised per edge."""
    inside = np.zeros(len(x), dtype=bool)
    box = (x >= xs.min()) & (x <= xs.max()) & (y >= ys.min()) & (y <= ys.max())
    px, py = x[box], y[box]
    hit = np.zeros(len(px), dtype=bool)
    for i in range(len(xs)):
        x1, y1, x2, y2 = xs[i - 1], ys[i - 1], xs[i], ys[i]
        crosses = (y1 > py) != (y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
        hit ^= crosses & (px < at)
    inside[np.flatnonzero(box)[hit]] = True
    return inside


def vector_label(model: str) -> str:
    """How the map names a projection: by the kind of vector and the model."""
    return f"image vectors ({model})" if model.startswith(IMAGE_MODEL) else f"text vectors ({model})"


class MapState(param.Parameterized):
    """Which projection, what colours the points, what is highlighted, and from how many points
    to rasterise."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    part = param.Selector(default="test", objects=["test", "valid"])
    model = param.Selector(default=None, objects=[], label="Place products by")
    color_by = param.Selector(default=COLOR_CATEGORY, objects=[COLOR_CATEGORY, COLOR_OUTCOME], label="Colour by")
    level = param.Integer(default=1, bounds=(1, 1), label="Category level")
    run_id = param.Selector(default=None, objects=[], label="Run (for right / wrong)")
    highlight = param.List(default=[], item_type=str, doc="categories of the level drawn in colour")
    rasterize_above = param.Integer(default=RASTERIZE_ABOVE, bounds=(1, None))

    def __init__(self, **params):
        super().__init__(**params)
        self._frame_key, self._frame = None, None
        self._tree_key, self._tree = None, None
        self.on_selection = None  # called with a drill.Selection after a box or lasso selection
        self.selection_stream = None
        models = data.projection_models(self.workspace)
        # text vectors first; image vectors (workbench project --images) named as such
        models = sorted(models, key=lambda m: m.startswith(IMAGE_MODEL))
        self.param.model.objects = {vector_label(m): m for m in models}
        if self.model is None and models:
            self.model = models[0]
        tax = data.taxonomy(self.workspace)
        self.param.level.bounds = (1, max(tax.depth, 1))
        self.level = min(max(self.level, 1), max(tax.depth, 1))
        data.choose_run(self, self.part)

    @property
    def has_projection(self) -> bool:
        """Whether the workspace has a stored projection."""
        return self.model is not None

    def level_names(self) -> dict[int, str]:
        """``{level: name}`` of the taxonomy."""
        return dict(enumerate(data.taxonomy(self.workspace).level_names, 1))

    def categories(self) -> list[str]:
        """The categories of the current level present on the map (the highlight's options)."""
        proj = data.projection(self.workspace, self.model)
        column = f"level_{self.level}" if f"level_{self.level}" in proj else "leaf"
        return [str(c) for c in proj[column].cat.remove_unused_categories().cat.categories]

    @param.depends("level", watch=True)
    def _level_changed(self) -> None:
        self.highlight = []

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

    def base(self):
        """The map alone: glyphs up to ``rasterize_above`` points, datashader above; no hover."""
        frame = self.frame()
        key = OUTCOMES if self.color_by == COLOR_OUTCOME else None
        name = self.level_names().get(self.level, f"level {self.level}")
        title = (f"Products coloured by {name}" if self.color_by == COLOR_CATEGORY
                 else "Products coloured by right / wrong")
        highlight = self.highlight if self.color_by == COLOR_CATEGORY else ()
        return embedding_map(frame, "colour", rasterize_above=self.rasterize_above, title=title, color_key=key,
                             highlight=highlight)

    @param.depends("model", "color_by", "level", "run_id", "rasterize_above", "highlight")
    def plot(self):
        """The map with the product under the mouse (HoloViews ``PointerXY`` and ``RangeXY``
        streams ask the server) and a box / lasso selection (``SelectionXY``) that calls
        :attr:`on_selection` with the products inside."""
        import holoviews as hv

        base = self.base()
        hover = hv.DynamicMap(self.hover, streams=[hv.streams.PointerXY(source=base, x=None, y=None),
                                                   hv.streams.RangeXY(source=base)])
        self.selection_stream = hv.streams.SelectionXY(source=base)
        self.selection_stream.add_subscriber(self._selected)
        return base * hover

    def _selected(self, bounds=None, geometry=None, **_):
        if self.on_selection is not None:
            self.on_selection(self.selected(bounds, geometry))

    # the product under the mouse --------------------------------------------------------
    def _nearest_index(self):
        from sklearn.neighbors import KDTree

        proj = data.projection(self.workspace, self.model)
        if self._tree_key is not proj:
            xy = proj[["x", "y"]].to_numpy(dtype=np.float64)
            span = np.maximum(xy.max(axis=0) - xy.min(axis=0), 1e-12) if len(xy) else np.ones(2)
            self._tree, self._span, self._tree_key = KDTree(xy / span), span, proj
        return self._tree, self._span, proj

    def under_mouse(self, x: float | None, y: float | None, x_range=None, y_range=None) -> pd.DataFrame:
        """The product nearest to the mouse within :data:`HOVER_PX` pixels (none otherwise):
        ``x, y, title, category, thumb`` (a data URI, or empty)."""
        empty = pd.DataFrame({"x": [], "y": [], "title": [], "category": [], "thumb": []})
        if x is None or y is None or not self.has_projection:
            return empty
        tree, span, proj = self._nearest_index()
        if not len(proj):
            return empty
        k = min(16, len(proj))
        _, idx = tree.query(np.array([[x, y]]) / span, k=k)
        idx = idx[0]
        xs = x_range or (proj["x"].min(), proj["x"].max())
        ys = y_range or (proj["y"].min(), proj["y"].max())
        px = np.hypot((proj["x"].to_numpy()[idx] - x) / max(xs[1] - xs[0], 1e-12) * MAP_WIDTH,
                      (proj["y"].to_numpy()[idx] - y) / max(ys[1] - ys[0], 1e-12) * MAP_HEIGHT)
        best = int(np.argmin(px))
        if px[best] > HOVER_PX:
            return empty
        row = proj.iloc[int(idx[best])]
        image = self.workspace.scalar("SELECT image FROM products WHERE product_id = ?", [str(row["product_id"])])
        thumb = thumbnail_uri(image, image_roots(self.workspace), SMALL) or ""
        return pd.DataFrame({"x": [row["x"]], "y": [row["y"]], "title": [str(row["title"])],
                             "category": [str(row["leaf"])], "thumb": [thumb]})

    def hover(self, x=None, y=None, x_range=None, y_range=None):
        """:func:`workbench.plots.embedding.hover_points` of :meth:`under_mouse` (a DynamicMap callback)."""
        return hover_points(self.under_mouse(x, y, x_range, y_range))

    # selections --------------------------------------------------------------------------
    def selected(self, bounds=None, geometry=None) -> drill.Selection | None:
        """The products inside a box (``bounds``: x0, y0, x1, y1) or a lasso (``geometry``:
        polygon vertices), with the run's predictions where it has them."""
        proj = data.projection(self.workspace, self.model)
        x, y = proj["x"].to_numpy(), proj["y"].to_numpy()
        if geometry is not None and len(np.asarray(geometry)) >= 3:
            poly = np.asarray(geometry, dtype=float)
            mask, shape = inside_polygon(x, y, poly[:, 0], poly[:, 1]), "lasso"
        elif bounds is not None:
            x0, y0, x1, y1 = bounds
            mask = (x >= min(x0, x1)) & (x <= max(x0, x1)) & (y >= min(y0, y1)) & (y <= max(y0, y1))
            shape = "box"
        else:
            return None
        ids = proj["product_id"].to_numpy()[mask]
        return drill.of_products(ids, f"inside the {shape} on the map", "Embedding map", self.run_id, self.part)
