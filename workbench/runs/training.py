"""Train model families on a workspace's split and record each run (``workbench train``).

For each model kind, :func:`train_models` reads the labelled products of the chosen split
(only labels whose provenance is in ``label_sources``: catalog and human by default, never the
model's own unreviewed labels), optionally samples the training part, fits the model with the
validation part for early stopping, predicts the validation and test parts, computes accuracy,
macro-F1 and per-level accuracy, saves the model into the run's artifact folder and records
the run with :func:`workbench.runs.records.record_run`.

Measurements: ``train_seconds`` is the wall time of ``fit`` alone; ``peak_memory_mb`` is the
peak growth of the process's resident memory (RSS) during ``fit`` over its RSS when ``fit``
began, sampled every 20 ms by :mod:`psutil` in a background thread (``tracemalloc`` would miss
native allocations of torch and XGBoost and slow them down).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.models.base import CategoryClassifier, model_class
from workbench.runs.records import mark_complete, record_run, run_dir, new_run_id
from workbench.runs.scoring import fingerprint, run_metrics  # noqa: F401  (the names callers import from here)
from workbench.store import Workspace
from workbench.catalog.taxonomy import Taxonomy

DEFAULT_MODELS = ("tfidf", "xgboost", "transformer", "cnn-lstm")
DEFAULT_LABEL_SOURCES = ("catalog", "human")
LABEL_SOURCES = ("catalog", "human", "model")
PARTS = ("valid", "test")


class PeakMemory:
    """Context manager: the peak resident memory of this process while the block runs, sampled
    every ``interval`` seconds. After the block: ``peak_bytes`` (the peak RSS itself),
    ``growth_bytes`` (peak minus the RSS on entry) and ``peak_mb`` (that growth in MB)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_mb = 0.0
        self.peak_bytes = self.growth_bytes = 0

    def __enter__(self) -> "PeakMemory":
        import psutil

        self._proc = psutil.Process()
        self._start = self._peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, self._proc.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._proc.memory_info().rss)
        self.peak_bytes, self.growth_bytes = self._peak, self._peak - self._start
        self.peak_mb = self.growth_bytes / 2**20


def stratified_sample(frame: pd.DataFrame, n: int, seed: int = 0, by: str = "leaf") -> pd.DataFrame:
    """A seeded sample of ``n`` rows, proportional per ``by`` value, every value kept once
    before any value gets a second row (as far as ``n`` allows)."""
    if n >= len(frame):
        return frame
    rng = np.random.default_rng(seed)
    shuffled = frame.iloc[rng.permutation(len(frame))]
    rank = shuffled.groupby(by, sort=False).cumcount().to_numpy()
    size = shuffled.groupby(by, sort=False)[by].transform("size").to_numpy()
    keys = pd.DataFrame({"q": rank / size, "tie": np.arange(len(shuffled))})
    keep = keys.sort_values(["q", "tie"], kind="mergesort").index[:n]
    return shuffled.iloc[np.sort(keep)]


def _department_column(ws: Workspace, frame: pd.DataFrame, column: str) -> pd.Series:
    """The department of each product of ``frame``: a products column or a key of ``extra``."""
    if column in frame:
        return frame[column]
    columns = set(ws.df("SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'products'")["column_name"])
    if column in columns:  # an identifier checked against the table's own columns
        values = ws.df(f'SELECT product_id, "{column}" AS value FROM products')
    else:
        values = ws.df("SELECT product_id, json_extract_string(extra, ?) AS value FROM products",
                       ["$." + json.dumps(column)])
        if values["value"].isna().all():
            raise WorkbenchError(
                f"no department column {column!r} in products or their extra fields; use one of "
                f"{', '.join(sorted(columns))} or a key of the ingested file's extra columns")
    return frame["product_id"].map(dict(zip(values["product_id"], values["value"])))


def load_training_frame(ws: Workspace, split: str, label_sources: Sequence[str],
                        department: str | None = None) -> pd.DataFrame:
    """Labelled products with their ``part`` in ``split``, restricted to ``label_sources``."""
    from workbench.catalog.splits import split_frame

    frame = split_frame(ws, split, label_sources=tuple(label_sources))
    outside = ~frame["label_source"].isin(list(label_sources))
    if outside.any():
        raise WorkbenchError(f"{int(outside.sum())} products carry labels outside {list(label_sources)}")
    if department:
        frame = frame.assign(**{department: _department_column(ws, frame, department).to_numpy()})
    return frame.reset_index(drop=True)


def build_model(kind: str, leaves: Sequence[str], *, params: dict[str, Any] | None = None,
                seed: int = 0, department: str | None = None, ws: Workspace | None = None,
                checkpoint_dir: str | None = None) -> CategoryClassifier:
    """An unfitted model of ``kind`` over ``leaves`` (one per department with ``department``);
    ``checkpoint_dir`` is given to a family that checkpoints (unless ``params`` name one)."""
    params = dict(params or {})
    cls = model_class(kind)
    known = set(cls().get_params()) - {"leaves", "random_state"}
    if "workspace" in known and ws is not None:
        params.setdefault("workspace", str(ws.path))
    unknown = sorted(set(params) - known)
    if unknown:
        raise WorkbenchError(f"{kind} has no parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
    if department:
        from workbench.models.departments import DepartmentModel

        return DepartmentModel(base_kind=kind, base_params=params, department_column=department,
                               leaves=list(leaves), random_state=seed, checkpoint_dir=checkpoint_dir)
    if checkpoint_dir is not None and "checkpoint_dir" in known:
        params.setdefault("checkpoint_dir", str(checkpoint_dir))
    return cls(**{**params, "leaves": list(leaves), "random_state": seed})


EMBEDDING_PARAMS = ("embedding_model", "smoothing_model")


def with_embedding_model(kind: str, params: dict[str, Any] | None,
                         embedding_model: str | None) -> dict[str, Any] | None:
    """``params`` with ``embedding_model`` set on each parameter of ``kind`` that names a sentence
    encoder (:data:`EMBEDDING_PARAMS`), unless the parameters already set it."""
    if not embedding_model:
        return params
    names = set(model_class(kind)().get_params())
    out = dict(params or {})
    for name in EMBEDDING_PARAMS:
        if name in names:
            out.setdefault(name, embedding_model)
    return out


def encoder_for_titles(titles: Sequence[str], echo=None) -> str | None:
    """The sentence encoder the training titles need when none is named: the multilingual one
    (``multilingual-e5-small``) for titles that do not read as English
    (:func:`workbench.catalog.language.guess_language`), ``None`` (each family's default) otherwise."""
    from workbench.catalog.language import guess_language

    guess = guess_language(titles)
    if guess.english:
        return None
    if echo is not None:
        echo(str(guess))
    return guess.encoder


def train_one(ws: Workspace, kind: str, frame: pd.DataFrame, taxonomy: Taxonomy, *, split: str,
              sample: int | None = None, department: str | None = None,
              params: dict[str, Any] | None = None, seed: int = 0,
              label_sources: Sequence[str] = DEFAULT_LABEL_SOURCES, echo=None) -> str:
    """Train one model kind on ``frame`` (rows with ``part``), record the run, return its id.

    The families that checkpoint do it in the run configuration's own folder in the workspace
    (:mod:`workbench.runs.checkpoints`): a killed run resumes when the same call is made again,
    its ``train_seconds`` then include the sessions before, and its metrics say ``resumed``."""
    from workbench.runs.checkpoints import checkpoint_folder, remove_checkpoints

    data_fp = fingerprint(frame["product_id"], frame["leaf"])
    split_fp = fingerprint(frame["product_id"], frame["part"])
    folder = checkpoint_folder(ws, kind, split=split, params=params, sample=sample, seed=seed,
                               department=department, label_sources=label_sources,
                               data_fingerprint=data_fp, split_fingerprint=split_fp)
    model = build_model(kind, taxonomy.leaves, params=params, seed=seed, department=department, ws=ws,
                        checkpoint_dir=str(folder))
    train = frame[frame["part"] == "train"].reset_index(drop=True)
    valid = frame[frame["part"] == "valid"].reset_index(drop=True)
    if train.empty:
        raise WorkbenchError(f"the {split} split has no training products with labels from "
                             f"{list(label_sources)}; ingest or label products first")
    if echo is not None:
        echo(f"training {kind} on {len(train):,} products ({split} split"
             + (f", a sample of {sample:,}" if sample else "") + f", {len(valid):,} for validation)")
    run_id = new_run_id(kind)
    started = datetime.now(timezone.utc)
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        model.fit(train, train["leaf"].to_numpy(dtype=object),
                  valid if len(valid) else None, valid["leaf"].to_numpy(dtype=object) if len(valid) else None)
        seconds = time.perf_counter() - t0
    resumed = getattr(model, "resumed_", None)
    if resumed:
        seconds += float(resumed.get("seconds_before", 0.0))
    classes = list(taxonomy.leaves)
    parts, metrics = {}, {}
    for part in PARTS:
        rows = frame[frame["part"] == part].reset_index(drop=True)
        if rows.empty:
            continue
        proba = model.predict_proba(rows)
        y_true = rows["leaf"].to_numpy(dtype=object)
        parts[part] = (rows["product_id"].astype(str).to_numpy(dtype=object), y_true, proba)
        metrics[part] = run_metrics(y_true, proba, classes, taxonomy)
    # headline figures are the test part's; the validation part's sit beside them
    headline_part = "test" if "test" in metrics else "valid"
    summary = {**metrics.get(headline_part, {}), "part": headline_part, "valid": metrics.get("valid")}
    if resumed:
        summary["resumed"] = resumed
    if "checkpoint_dir" in model.get_params(deep=False):
        model.set_params(checkpoint_dir=None)  # the folder goes once the run is recorded
    recorded = {k: v for k, v in model.get_params(deep=False).items() if k not in ("leaves", "checkpoint_dir")}
    if model.resolved_params():
        recorded["resolved"] = model.resolved_params()  # what the "auto" parameters became
    model.save(run_dir(ws, run_id) / "model", run_id=run_id, split=split,
               data_fingerprint=data_fp, split_fingerprint=split_fp)
    record_run(ws, run_id=run_id, model=kind, split=split, params=recorded, metrics=summary,
               train_seconds=seconds, peak_memory_mb=memory.peak_mb, data_fingerprint=data_fp,
               split_fingerprint=split_fp, classes=classes, parts=parts, department=department,
               sample=sample, label_sources=",".join(label_sources), started_at=started, complete=False)
    if "test" in parts:
        from workbench.runs.evaluation import evaluate_run

        evaluate_run(ws, run_id)  # a run is complete once trained and evaluated
    mark_complete(ws, run_id)
    remove_checkpoints(folder)
    return run_id


def train_models(ws: Workspace, models: Sequence[str] = DEFAULT_MODELS, split: str = "grouped",
                 sample: int | None = None, department: str | None = None,
                 params: dict[str, dict[str, Any]] | None = None, seed: int = 0,
                 label_sources: Sequence[str] = DEFAULT_LABEL_SOURCES,
                 echo=None, embedding_model: str | None = None) -> list[str]:
    """Train each kind in ``models`` on split ``split`` and record one run per kind.

    ``embedding_model`` (e.g. ``"multilingual-e5-small"``) is the sentence encoder of every kind
    that embeds: XGBoost's features, the neural families' smoothing targets, zero-shot's texts,
    ``auto``'s head (a kind's own ``--param`` wins); ``None``: the multilingual encoder when the
    training titles are not English (:func:`encoder_for_titles`), else each family's default.

    ``sample`` keeps a seeded, leaf-stratified sample of that many training products (the
    validation and test parts stay whole, so figures stay comparable across samples);
    ``department`` trains one model per value of that column; ``params`` maps a kind to its
    parameters; ``echo`` (e.g. ``print``) receives one summary line per finished run.
    Returns the run ids in the order trained.
    """
    from workbench.catalog.relabel import load_taxonomy

    models = list(models)
    if not models:
        raise WorkbenchError("no model kinds given; pass e.g. --models tfidf,xgboost")
    for kind in models:
        model_class(kind)
    unknown = sorted(set(params or {}) - set(models))
    if unknown:
        raise WorkbenchError(f"parameters given for {', '.join(unknown)}, which is not trained; "
                             f"add it to --models or drop its --param")
    unknown_sources = sorted(set(label_sources) - set(LABEL_SOURCES))
    if unknown_sources or not label_sources:
        raise WorkbenchError(f"label sources {unknown_sources or '(none)'} not understood; "
                             f"choose among {', '.join(LABEL_SOURCES)}")
    if sample is not None and sample < 1:
        raise WorkbenchError(f"--sample must be a positive number of products, got {sample}")
    taxonomy = load_taxonomy(ws)
    frame = load_training_frame(ws, split, label_sources, department)
    if sample is not None:
        train = stratified_sample(frame[frame["part"] == "train"], sample, seed)
        frame = pd.concat([train, frame[frame["part"] != "train"]], ignore_index=True)
    if embedding_model is None:
        embedding_model = encoder_for_titles(frame[frame["part"] == "train"]["title"], echo)
    run_ids = []
    for kind in models:
        kind_params = with_embedding_model(kind, (params or {}).get(kind), embedding_model)
        run_id = train_one(ws, kind, frame, taxonomy, split=split, sample=sample, department=department,
                           params=kind_params, seed=seed, label_sources=label_sources, echo=echo)
        run_ids.append(run_id)
        if echo is not None:
            from workbench.runs.records import get_run

            run = get_run(ws, run_id)
            m = json.loads(run["metrics"]) if isinstance(run["metrics"], str) else run["metrics"]
            resumed = m.get("resumed")
            recorded = json.loads(run["params"]) if isinstance(run["params"], str) else run["params"]
            dropped = ((recorded or {}).get("resolved") or {}).get("dropped")
            echo(f"{kind:<12} {split:<8} accuracy {m.get('accuracy', float('nan')):.4f}  "
                 f"macro-F1 {m.get('macro_f1', float('nan')):.4f}  "
                 f"{run['train_seconds']:.1f} s  run {run_id}"
                 + (f"  (resumed: {resumed_text(resumed)})" if resumed else "")
                 + (f"  (dropped, clearly worse on validation: {', '.join(dropped)})" if dropped else ""))
    return run_ids


def resumed_text(resumed: dict[str, Any]) -> str:
    """How a run was resumed, for people: ``after epoch 2, 41.3 s before`` (per member for
    an ensemble or a department model)."""
    if "members" in resumed:
        return "; ".join(f"{name} {resumed_text(r)}" for name, r in resumed["members"].items())
    return f"after epoch {resumed.get('after_epoch')}, {resumed.get('seconds_before', 0.0):.1f} s before"


def compare_runs(ws: Workspace, run_ids: Sequence[str] | None = None,
                 split: str | None = None) -> pd.DataFrame:
    """Recorded runs side by side, oldest first: one row per run with accuracy, macro-F1, ``n``
    (the test products they count), per-level accuracy (``acc <level name>``; ``n <level name>``
    beside it where a level counts fewer products than ``n``, as when some leaves are shallower),
    train seconds, peak memory (MB), ``notes`` (trained on a sample, resumed, below the
    sanity bar: :func:`workbench.runs.selection.run_flags`; re-scored on the current labels, or
    scored on older labels: :mod:`workbench.runs.truth`; trained on an older taxonomy: re-scored on the
    current one through the change map, :mod:`workbench.runs.taxonomy_rescore`) and ``setup`` (encoder, members,
    resolved values); on a small test part (fewer than 50 products per leaf) also ``acc 95%``,
    ``macro-F1 95%`` and ``vs best`` (:mod:`workbench.runs.run_setup`). Runs are first brought to
    the current truth of their split, so that no run is credited with labels that changed after
    it was scored; ``truth`` is the fingerprint of the labels each run's figures count."""
    from workbench.runs.records import select_runs
    from workbench.runs.run_setup import interval_columns, run_setup
    from workbench.runs.selection import run_flags
    from workbench.runs.rescore import bring_to_current_truth
    from workbench.runs.taxonomy_rescore import rescored_runs
    from workbench.runs.truth import OLDER, OLDER_FLAG, RESCORED

    status = bring_to_current_truth(ws, run_ids)
    runs = select_runs(ws, run_ids, split)
    mapped = rescored_runs(ws, runs["run_id"])
    rows, fewer = [], set()
    for run in runs.to_dict("records"):
        m = run["metrics"] or {}
        if run["run_id"] in mapped:  # trained on an older taxonomy: its figures on the current one
            m = {**m, **mapped[run["run_id"]].metrics}
        row = {"run_id": run["run_id"], "model": run["model"], "split": run["split"],
               "department": run["department"], "sample": run["sample"],
               "accuracy": m.get("accuracy"), "macro_f1": m.get("macro_f1"), "n": m.get("n")}
        level_n = m.get("level_n") or {}
        for level, value in (m.get("level_accuracy") or {}).items():
            row[f"acc {level}"] = value
            row[f"n {level}"] = level_n.get(level)
            if level_n.get(level) is not None and level_n.get(level) != m.get("n"):
                fewer.add(f"n {level}")
        row["train_s"] = run["train_seconds"]
        row["peak_mb"] = run["peak_memory_mb"]
        notes = [f for f in run_flags(run) if not f.startswith("no validation")]
        if m.get("resumed"):
            notes.append("resumed " + resumed_text(m["resumed"]))
        if run["run_id"] in mapped:
            notes.append(mapped[run["run_id"]].note)
        elif status.get(run["run_id"]) == OLDER:
            notes.append(OLDER_FLAG)
        elif status.get(run["run_id"]) == RESCORED or m.get("rescored"):
            notes.append("re-scored on the current labels")
        row["truth"] = run.get("truth")
        row["notes"] = "; ".join(notes)
        row["setup"] = run_setup(run.get("params"))
        rows.append(row)
    intervals = interval_columns(ws, [r["run_id"] for r in rows])
    if intervals:  # a small test part: bootstrap intervals beside the figures (workbench.runs.run_setup)
        for row in rows:
            extra = {} if row["run_id"] in mapped else intervals.get(row["run_id"], {})  # stored figures
            for col in ("acc 95%", "macro-F1 95%", "vs best"):
                row[col] = extra.get(col, "-")
    table = pd.DataFrame(rows)
    return table.drop(columns=[c for c in table.columns if c.startswith("n ") and c not in fewer])


def format_table(frame: pd.DataFrame) -> str:
    """A plain-text table: numbers to 4 (metrics) or 1 (seconds, MB) decimals, ``-`` for none."""
    def cell(col: str, value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "-"
        if isinstance(value, (float, np.floating, int, np.integer)) and (col == "sample" or col == "n"
                                                                          or col.startswith("n ")):
            return f"{int(value):,}"
        if isinstance(value, (float, np.floating)):
            return f"{value:.1f}" if col in ("train_s", "peak_mb") else f"{value:.4f}"
        return str(value)

    cols = list(frame.columns)
    body = [[cell(c, v) for c, v in zip(cols, row)] for row in frame.itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in body]
    return "\n".join(lines)
