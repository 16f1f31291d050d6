"""The embedding map of a very large catalog, from a Dask dataframe.

``export_map`` writes the stored projection (x, y and the category at a level) as Parquet
partitions; ``map_dataframe`` opens them as a Dask dataframe (partitions load lazily, on
workers when a client is active); ``map_image`` aggregates it with datashader into one image
and ``map_element`` gives the HoloViews map (datashaded, re-aggregated on zoom) for a
notebook or a page.
"""

from __future__ import annotations

from pathlib import Path


from workbench.embeddings.encoder import model_id
from workbench.errors import WorkbenchError
from workbench.plots._style import colours
from workbench.store import Workspace
from workbench.store.slices import stored_key

ROWS_PER_FILE = 1_000_000


def export_map(ws: Workspace, folder: str | Path, model: str = "default", level: int = 1) -> Path:
    """Write ``x, y, category`` (the ancestor of each product's leaf at ``level``) of the stored
    projection as Parquet files under ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not ws.has_table("projection"):
        raise WorkbenchError("the workspace has no projection yet; run `workbench project` first")
    with ws.own_cursor() as cur:
        cur.execute(
            "COPY (SELECT pr.x::FLOAT AS x, pr.y::FLOAT AS y, "
            "coalesce(array_to_string(list_slice(string_split(p.leaf, ' > '), 1, ?), ' > '), '(none)') "
            "AS category FROM projection pr JOIN products p USING (product_id) WHERE pr.model = ?) "
            "TO ? (FORMAT parquet, FILE_SIZE_BYTES '64MB', OVERWRITE_OR_IGNORE true)",
            [int(level), stored_key(ws, "projection", model_id(model)), str(folder)])
    return folder


def map_dataframe(folder: str | Path):
    """The exported map as a Dask dataframe with a known categorical ``category``."""
    import dask.dataframe as dd

    files = sorted(str(p) for p in Path(folder).glob("*.parquet"))
    if not files:
        raise WorkbenchError(f"no map partitions in {folder}; run export_map first")
    frame = dd.read_parquet(files, columns=["x", "y", "category"])
    return frame.assign(category=frame["category"].astype("category")).categorize(columns=["category"])


def map_image(frame, *, width: int = 760, height: int = 600, color_key: dict[str, str] | None = None):
    """One datashader image of the whole map (categories coloured, one aggregate per pixel)."""
    import datashader as ds
    import datashader.transfer_functions as tf

    canvas = ds.Canvas(plot_width=width, plot_height=height)
    agg = canvas.points(frame, "x", "y", agg=ds.count_cat("category"))
    categories = [str(c) for c in agg.coords["category"].values]
    return tf.shade(agg, color_key=color_key or colours(categories), min_alpha=60)


def map_element(frame, *, width: int = 760, height: int = 600, title: str = "Embedding map"):
    """The HoloViews map of a Dask dataframe: datashaded, re-aggregated on every zoom."""
    import datashader as ds
    import holoviews as hv
    from holoviews.operation.datashader import datashade, dynspread

    categories = [str(c) for c in frame["category"].cat.categories]
    points = hv.Points(frame, ["x", "y"], ["category"])
    shaded = datashade(points, aggregator=ds.count_cat("category"), color_key=colours(categories), min_alpha=60)
    return dynspread(shaded, threshold=0.6).opts(width=width, height=height, title=title, xaxis=None, yaxis=None)

