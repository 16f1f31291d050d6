"""Read-only data of the dashboards, loaded once per process and shared by every session.

Loaders are cached with ``pn.cache``, keyed by the workspace path and a *stamp* (a cheap query
that changes when the underlying tables change, e.g. after ``workbench evaluate``), so a new
evaluation shows up in the next session without restarting the server. Queries go through
:meth:`Workspace.cursor`, one cursor per thread. Pages never train: they read these tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn

from workbench.errors import WorkbenchError
from workbench.catalog.relabel import load_taxonomy
from workbench.catalog.taxonomy import SEP
from workbench.runs.records import get_run, list_runs
from workbench.runs.selection import default_run, ranked_runs
from workbench.store import Workspace
from workbench.store.slices import slice_names, stored_key
from workbench.catalog.taxonomy import Taxonomy

NO_RUNS = ("No evaluated runs in this workspace yet. Train and evaluate first: "
           "`workbench train` then `workbench evaluate --all`.")


@pn.cache
def open_workspace(path: str) -> Workspace:
    """One :class:`Workspace` object per path in this process."""
    return Workspace(path)


def _key(ws: Workspace) -> str:
    return str(ws.path)


def arrow_frame(ws: Workspace, sql: str, params: list) -> pd.DataFrame:
    """A read query through Arrow (text columns arrive without one Python object per value:
    about three times faster than ``Workspace.df`` for a million rows)."""
    return arrow_table(ws, sql, params).to_pandas()


def arrow_table(ws: Workspace, sql: str, params: list):
    """A read query as a ``pyarrow.Table``, on a short-lived cursor of this thread's connection
    (a relation must not meet an unfinished result on the shared per-thread cursor)."""
    with ws.own_cursor() as cur:
        return cur.sql(sql, params=params).to_arrow_table()


def eval_stamp(ws: Workspace) -> str:
    """Changes whenever a run completes or is (re-)evaluated."""
    from workbench.app.live import runs_stamp

    return runs_stamp(ws)


def taxonomy_stamp(ws: Workspace) -> str:
    """Changes whenever the taxonomy is rebuilt or changed (its version)."""
    row = ws.rows("SELECT count(*), coalesce(sum(n_products), 0), coalesce(max(level), 0), "
                  "(SELECT coalesce(max(version), 0) FROM taxonomy_changes) FROM categories")[0]
    return "|".join(map(str, row))


def run_label(run_id: str, model: str) -> str:
    """A short legend label: the model kind and the run id's random suffix."""
    return f"{model} · {str(run_id).rsplit('-', 1)[-1]}"


# runs and evaluations ---------------------------------------------------------------------

@pn.cache(max_items=16)
def _evaluated_runs(path: str, part: str, stamp: str) -> pd.DataFrame:
    ws = open_workspace(path)
    runs = list_runs(ws)
    if runs.empty or not ws.has_table("evaluations"):
        return runs.iloc[0:0].assign(label=[], evaluation=[])
    ev = ws.df("SELECT run_id, metrics FROM evaluations WHERE part = ?", [part])
    ev["evaluation"] = ev["metrics"].map(json.loads)
    out = runs.merge(ev[["run_id", "evaluation"]], on="run_id", how="inner")
    out["label"] = [run_label(r, m) for r, m in zip(out["run_id"], out["model"])]
    return out.reset_index(drop=True)


def evaluated_runs(ws: Workspace, part: str = "test") -> pd.DataFrame:
    """Runs that have a stored evaluation of ``part``, oldest first: the ``runs`` columns plus
    ``evaluation`` (the stored metrics dict) and ``label``."""
    return _evaluated_runs(_key(ws), part, eval_stamp(ws))


@pn.cache(max_items=16)
def _run_intervals(path: str, part: str, stamp: str) -> dict:
    from workbench.runs.run_setup import interval_figures

    ws = open_workspace(path)
    return interval_figures(ws, list(_evaluated_runs(path, part, stamp)["run_id"]), part=part)


def run_intervals(ws: Workspace, part: str = "test") -> dict:
    """Bootstrap intervals of the evaluated runs whose ``part`` is small (fewer than 50 products
    per leaf), with the paired verdict against the most accurate run
    (:func:`workbench.runs.run_setup.interval_figures`); ``{}`` when no run's part is small."""
    return _run_intervals(_key(ws), part, eval_stamp(ws))


@pn.cache(max_items=16)
def _ranked(path: str, part: str, stamp: str) -> pd.DataFrame:
    ws = open_workspace(path)
    evaluated = set(_evaluated_runs(path, part, stamp)["run_id"])
    ranked = ranked_runs(ws, need_model=False)
    return ranked[ranked["run_id"].isin(evaluated)].reset_index(drop=True)


def ranked_evaluated_runs(ws: Workspace, part: str = "test") -> pd.DataFrame:
    """The evaluated runs in the order of :func:`workbench.runs.selection.ranked_runs` (best first),
    with its ``flags`` (why a run may not be the default: trained on a sample, below the sanity bar)."""
    return _ranked(_key(ws), part, eval_stamp(ws))


def default_run_id(ws: Workspace, part: str = "test") -> str | None:
    """The run every page opens on: :func:`workbench.runs.selection.default_run` among the
    evaluated runs (the promoted serving run, else the best by validation accuracy, flagged runs
    only when nothing else is evaluated); ``None`` when no run is evaluated."""
    evaluated = evaluated_runs(ws, part)
    if evaluated.empty:
        return None
    return default_run(ws, need_model=False, among=evaluated["run_id"])


def choose_run(state, part: str = "test") -> None:
    """Fill a state's ``run_id`` selector with the evaluated runs (newest first) and, when none is
    chosen yet, open it on :func:`default_run_id`."""
    runs = evaluated_runs(state.workspace, part)
    state.param.run_id.objects = runs["run_id"].tolist()[::-1]
    if state.run_id is None and len(runs):
        state.run_id = default_run_id(state.workspace, part)


def run_options(ws: Workspace, part: str = "test") -> dict[str, str]:
    """``{label (run id): run id}`` for a run selector, newest first."""
    runs = evaluated_runs(ws, part)
    return {f"{lab} ({rid})": rid for lab, rid in zip(runs["label"][::-1], runs["run_id"][::-1])}


@pn.cache(max_items=64)
def _eval_table(path: str, table: str, part: str, stamp: str) -> pd.DataFrame:
    ws = open_workspace(path)
    if not ws.has_table(table):
        return pd.DataFrame()
    # table names come from the fixed tuple in eval_table(), never from user input
    return ws.df(f"SELECT * FROM {table} WHERE part = ?", [part])


EVAL_TABLES = ("eval_curve", "eval_per_leaf", "eval_severity", "eval_calibration",
               "eval_level_accuracy", "eval_confusion", "eval_worst_errors", "eval_category_thresholds")


def eval_table(ws: Workspace, table: str, part: str = "test", run_ids=None) -> pd.DataFrame:
    """One stored evaluation table for all runs (or ``run_ids``), with each run's ``run`` label."""
    if table not in EVAL_TABLES:
        raise WorkbenchError(f"unknown evaluation table {table!r}; use one of {', '.join(EVAL_TABLES)}")
    frame = _eval_table(_key(ws), table, part, eval_stamp(ws))
    if frame.empty:
        return frame.assign(run=[])
    runs = evaluated_runs(ws, part)
    labels = dict(zip(runs["run_id"], runs["label"]))
    if run_ids is not None:
        frame = frame[frame["run_id"].isin(list(run_ids))]
    return frame.assign(run=frame["run_id"].map(labels)).reset_index(drop=True)


# taxonomy --------------------------------------------------------------------------------

@pn.cache(max_items=8)
def _taxonomy(path: str, stamp: str) -> Taxonomy:
    return load_taxonomy(open_workspace(path))


def taxonomy(ws: Workspace) -> Taxonomy:
    """The workspace taxonomy (cached until it is rebuilt)."""
    return _taxonomy(_key(ws), taxonomy_stamp(ws))


# predictions -----------------------------------------------------------------------------

def run_classes(ws: Workspace, run_id: str) -> np.ndarray:
    """The leaf order of a run's probability matrices (its ``classes.json``)."""
    folder = Path(str(get_run(ws, run_id)["artifact_dir"]))
    return np.array(json.loads((folder / "classes.json").read_text()), dtype=object)


def top1_predictions(ws: Workspace, run_id: str, part: str = "test") -> pd.DataFrame:
    """``product_id, leaf, true_leaf, proba`` of a run's top-1 predictions."""
    return arrow_frame(ws, "SELECT product_id, leaf, true_leaf, proba FROM predictions "
                       "WHERE run_id = ? AND part = ? AND rank = 1", [run_id, part])


@pn.cache(max_items=8)
def _wrong_predictions(path: str, run_id: str, part: str) -> pd.DataFrame:
    return arrow_frame(open_workspace(path),
                       "SELECT product_id, true_leaf, leaf, proba FROM predictions WHERE run_id = ? "
                       "AND part = ? AND rank = 1 AND true_leaf <> leaf", [run_id, part])


def wrong_predictions(ws: Workspace, run_id: str, part: str = "test") -> pd.DataFrame:
    """``product_id, true_leaf, leaf, proba`` of a run's wrong top-1 predictions (cached per run)."""
    return _wrong_predictions(_key(ws), run_id, part)


def titles(ws: Workspace, product_ids) -> pd.DataFrame:
    """``product_id, title`` of the given products."""
    ids = [str(p) for p in product_ids]
    if not ids:
        return pd.DataFrame({"product_id": [], "title": []})
    return ws.df("SELECT product_id, title FROM products WHERE product_id IN (SELECT unnest(?))", [ids])


def example_title(ws: Workspace) -> str:
    """A labelled title of this catalog for an input's placeholder (``e.g. ...``): plain letters,
    digits and punctuation only, 15 to 60 characters; fashion's example when there is none."""
    found = ws.scalar("SELECT title FROM products WHERE leaf IS NOT NULL "
                      "AND regexp_full_match(title, ?) ORDER BY product_id LIMIT 1",
                      [r"[\p{L}\p{N}][\p{L}\p{N} ,.&'()/+-]{14,59}"])
    return str(found) if found else "Nike Men Blue Running Shoes"


def example_path(ws: Workspace) -> str:
    """A category path of this taxonomy two levels deep (a parent, else a leaf) for a placeholder."""
    tax = taxonomy(ws)
    nodes = [*sorted(tax.internal_nodes()), *tax.leaves]
    return next((n for n in nodes if n.count(SEP) == 1), nodes[0] if nodes else "Apparel > Topwear")


# projection ------------------------------------------------------------------------------

def projection_models(ws: Workspace) -> list[str]:
    """Embedding models that have a stored projection."""
    if not ws.has_table("projection"):
        return []
    return slice_names(ws, "projection")


UNLABELLED = "(unlabelled)"


@pn.cache(max_items=4)
def _projection(path: str, model: str, stamp: str) -> pd.DataFrame:
    ws = open_workspace(path)
    frame = arrow_frame(ws, "SELECT pr.product_id, pr.x, pr.y, p.title, p.leaf FROM projection pr "
                        "JOIN products p USING (product_id) WHERE pr.model = ? ORDER BY pr.product_id",
                        [stored_key(ws, "projection", model)])
    leaf = frame["leaf"].astype(object).where(frame["leaf"].notna(), UNLABELLED)
    codes, uniques = pd.factorize(leaf)
    frame["leaf"] = pd.Categorical.from_codes(codes, categories=list(uniques))
    frame["title"] = frame["title"].fillna("")
    depth = max((str(u).count(" > ") + 1 for u in uniques if u != UNLABELLED), default=1)
    for level in range(1, depth + 1):
        cut = [u if u == UNLABELLED else " > ".join(str(u).split(" > ")[:level]) for u in uniques]
        cats = list(dict.fromkeys(cut))
        index = {c: i for i, c in enumerate(cats)}
        # ancestors are cut once per distinct leaf, then broadcast through the codes
        frame[f"level_{level}"] = pd.Categorical.from_codes(np.array([index[c] for c in cut])[codes], cats)
    return frame


def projection_stamp(ws: Workspace, model: str) -> str:
    """Changes when the projection of ``model`` is rewritten (deterministic: no float sums)."""
    key = stored_key(ws, "projection", model)
    row = ws.rows("SELECT count(*), min(x), max(x), min(y), max(y) FROM projection WHERE model = ?", [key])[0]
    return "|".join(map(str, (key, *row))) + "|" + str(ws.meta(f"projection_seconds:{model}"))


def projection(ws: Workspace, model: str) -> pd.DataFrame:
    """``product_id, x, y, title, leaf`` (categorical, ``(unlabelled)`` when missing) and
    ``level_1..level_d`` (the ancestor of the leaf at each level, categorical) of a stored
    projection; cached until it changes."""
    return _projection(_key(ws), model, projection_stamp(ws, model))


OUTCOME_NAMES = ("right", "wrong", "not in the run's test part")


@pn.cache(max_items=4)
def _projection_outcome(path: str, model: str, stamp: str, run_id: str, part: str) -> pd.Categorical:
    ws = open_workspace(path)
    proj = _projection(path, model, stamp)
    top1 = top1_predictions(ws, run_id, part)
    ok = pd.Series((top1["leaf"] == top1["true_leaf"]).to_numpy(), index=top1["product_id"].to_numpy())
    pos = pd.Index(ok.index).get_indexer(proj["product_id"])
    codes = np.where(pos < 0, 2, np.where(ok.to_numpy()[np.maximum(pos, 0)], 0, 1)).astype(np.int8)
    return pd.Categorical.from_codes(codes, categories=list(OUTCOME_NAMES))


def projection_outcome(ws: Workspace, model: str, run_id: str, part: str = "test") -> pd.Categorical:
    """Right / wrong / absent of each projected product under a run's top-1 prediction, aligned
    with :func:`projection` rows (cached)."""
    return _projection_outcome(_key(ws), model, projection_stamp(ws, model), run_id, part)


def warm(path: str, part: str = "test") -> None:
    """Load what the first pages read (runs, taxonomy, the default run's predictions, the
    projection) into the caches, so that the first session does not wait for it."""
    ws = open_workspace(path)
    taxonomy(ws)
    best = default_run_id(ws, part)
    if best is not None:  # (the default run's sorted predictions are warmed by the server: app.top1)
        for table in EVAL_TABLES:
            eval_table(ws, table, part)
        wrong_predictions(ws, best, part)
    for model in projection_models(ws)[:1]:
        frame = projection(ws, model)
        from workbench.plots.embedding import RASTERIZE_ABOVE

        if len(frame) > RASTERIZE_ABOVE:
            # compile datashader's kernels once (numba), on a slice with the same column types
            import holoviews as hv

            from workbench.plots import embedding_map

            sample = frame.head(1000).assign(category=frame["leaf"].array[:1000])
            hv.render(embedding_map(sample, "level_1", rasterize_above=0))
