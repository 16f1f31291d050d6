"""``workbench train`` (train model families and record runs), ``workbench runs`` (list them)
and ``workbench compare`` (the runs side by side)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from workbench.cli.cluster_options import add_cluster_options, cluster_client
from workbench.errors import WorkbenchError
from workbench.store import Workspace


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the ``train``, ``runs`` and ``compare`` subcommands."""
    p = subparsers.add_parser(
        "train", parents=[common], help="train model families and record each run",
        description="Train each model kind on a split of the workspace's labelled products (catalog "
                    "and human labels only), predict the validation and test parts, and record the run "
                    "(parameters, fingerprints, time, peak memory, metrics, predictions, model). The "
                    "neural families checkpoint every epoch in the workspace: a killed run resumes "
                    "when the same command is run again. Progress goes to standard error: a bar on "
                    "a terminal, one line per epoch or boosting round in a log.")
    p.add_argument("--models", default="tfidf,xgboost,transformer,cnn-lstm",
                   help="comma-separated kinds: tfidf, xgboost, transformer, cnn-lstm, fasttext, "
                        "ensemble (default: the four families tfidf, xgboost, transformer, cnn-lstm)")
    p.add_argument("--split", choices=["grouped", "random"], default="grouped",
                   help="grouped by normalised title (honest, default) or stratified random")
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="train on a seeded leaf-stratified sample of N training products "
                        "(validation and test stay whole)")
    p.add_argument("--department", default=None, metavar="COL",
                   help="train one model per value of this product column (e.g. department, or a "
                        "key of the file's extra columns such as usage) and combine them")
    p.add_argument("--seed", type=int, default=0, help="random seed of every model (default 0)")
    p.add_argument("--param", action="append", default=[], metavar="KIND.NAME=VALUE",
                   help="a model parameter, e.g. tfidf.C=0.5 or xgboost.n_estimators=200 "
                        "(value parsed as JSON when it can be; repeatable)")
    p.add_argument("--embedding-model", default=None, metavar="MODEL",
                   help="sentence encoder of the kinds that embed (xgboost features, neural smoothing "
                        "targets, zero-shot): default all-MiniLM-L6-v2, or multilingual-e5-small "
                        "(alias multilingual) for catalogs in any language")
    p.add_argument("--label-sources", default="catalog,human",
                   help="label provenances trained on (default catalog,human; model labels are "
                        "never trained on unless named here)")
    add_cluster_options(p)
    p.set_defaults(func=run_train)

    r = subparsers.add_parser("runs", parents=[common], help="list recorded training runs",
                              description="List the recorded training runs, oldest first.")
    r.add_argument("--json", action="store_true",
                   help="print a JSON list (run_id, model, split, train_seconds, metrics, ...)")
    r.set_defaults(func=run_runs)

    c = subparsers.add_parser("compare", parents=[common], help="compare runs side by side",
                              description="Accuracy, macro-F1, the test products counted (n), per-level "
                                          "accuracy (with its own count where a level counts fewer), "
                                          "train seconds, peak memory and notes (trained on a sample, "
                                          "resumed) of recorded runs, one row per run.")
    c.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to compare (default: all)")
    c.add_argument("--split", choices=["grouped", "random"], default=None, help="only runs on this split")
    c.add_argument("--decision", default=None, metavar="RULES",
                   help="compare under decision rules, e.g. argmax,min-risk: one row per run and rule with "
                        "the mean tree distance of the errors and the share of cross-family errors")
    c.add_argument("--json", action="store_true", help="print the table as JSON records")
    c.set_defaults(func=run_compare)


def parse_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["tfidf.C=0.5", ...]`` -> ``{"tfidf": {"C": 0.5}}`` (values parsed as JSON when possible)."""
    params: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        kind, dot, name = key.rpartition(".")
        if not sep or not dot or not kind or not name:
            raise WorkbenchError(f"--param {item!r} must look like KIND.NAME=VALUE, e.g. tfidf.C=0.5")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        params.setdefault(kind, {})[name] = value
    return params


def echo(line: str) -> None:
    """Print a line at once, also when standard output is a file or a pipe (a log)."""
    print(line, flush=True)


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """Within the block, ``kill`` (SIGTERM) ends the command like Ctrl-C does, through Python's
    own unwinding, so that temporary files are removed; the checkpoints stay for the resume."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_train(args: argparse.Namespace) -> int:
    """Train the chosen kinds and print one line per recorded run (progress on standard error);
    each run is evaluated and marked complete in its last transaction, so every page lists it."""
    from workbench.runs.training import train_models

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sources = [s.strip() for s in args.label_sources.split(",") if s.strip()]
    ws = Workspace(args.workspace)
    with terminate_as_exit(), cluster_client(args) as client:
        params = parse_params(args.param)
        if client is not None:
            from workbench.scale.training import cluster_params

            params = cluster_params(models, params, client.scheduler.address, echo=print)
        try:
            run_ids = train_models(ws, models, split=args.split, sample=args.sample, department=args.department,
                                   params=params, seed=args.seed, label_sources=sources, echo=echo,
                                   embedding_model=args.embedding_model)
        except (KeyboardInterrupt, SystemExit):
            print("workbench train: interrupted; run the same command again to resume from the last "
                  "finished epoch", file=sys.stderr, flush=True)
            raise
    for run_id in run_ids:
        print(f"evaluated run {run_id} (test part): every dashboard page lists it", file=sys.stderr)
    return 0


def runs_records(ws: Workspace) -> list[dict[str, Any]]:
    """The recorded runs as JSON-ready dicts."""
    from workbench.runs.records import list_runs

    out = []
    for run in list_runs(ws).to_dict("records"):
        record = {}
        for key, value in run.items():
            if hasattr(value, "isoformat"):
                value = value.isoformat()
            elif value is not None and not isinstance(value, (str, dict, list)) and value != value:
                value = None  # NaN / NaT
            elif hasattr(value, "item"):
                value = value.item()
            record[key] = value
        out.append(record)
    return out


def run_runs(args: argparse.Namespace) -> int:
    """Print the recorded runs (a table, or JSON with ``--json``)."""
    from workbench.runs.training import compare_runs, format_table

    ws = Workspace(args.workspace)
    if args.json:
        print(json.dumps(runs_records(ws), indent=2, default=str))
        return 0
    table = compare_runs(ws)
    if table.empty:
        print(f"no runs in {ws.path} yet; train one with `workbench train`")
        return 0
    print(format_table(table[["run_id", "model", "split", "department", "sample", "accuracy",
                              "macro_f1", "train_s", "notes"]]))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Print the runs side by side."""
    from workbench.runs.training import compare_runs, format_table

    ws = Workspace(args.workspace)
    if args.decision:
        from workbench.runs.decision_comparison import compare_decisions

        rules = [r.strip() for r in args.decision.split(",") if r.strip()]
        table = compare_decisions(ws, args.run_ids or None, split=args.split, decisions=rules)
    else:
        table = compare_runs(ws, args.run_ids or None, split=args.split)
    if args.json:
        print(table.to_json(orient="records"))
        return 0
    if table.empty:
        print(f"no runs to compare in {ws.path}; train some with `workbench train`")
        return 0
    print(compare_text(table, format_table))
    return 0


def compare_text(table, format_table) -> str:
    """The comparison table for a terminal: the long ``setup`` column (an auto run's is hundreds of
    characters, which made every row wrap) is printed below the table, one wrapped entry per run."""
    import textwrap

    if "setup" not in table.columns or "run_id" not in table.columns:
        return format_table(table)
    lines = [format_table(table.drop(columns=["setup"]))]
    setups = [(r, s) for r, s in zip(table["run_id"], table["setup"]) if isinstance(s, str) and s.strip()]
    if setups:
        lines.append("\nsetup")
        for run_id, setup in setups:
            lines.append(textwrap.fill(setup, width=110, initial_indent=f"  {run_id}  ",
                                       subsequent_indent=" " * (len(run_id) + 4), break_on_hyphens=False))
    return "\n".join(lines)
