"""``workbench inspect FILE``: the detected format and columns of a catalog file, and a suggested
``workbench ingest`` command line."""

from __future__ import annotations

import json

from workbench.catalog.sniff import FORMATS


def register(sub, common) -> None:
    """Add ``inspect``."""
    p = sub.add_parser("inspect", parents=[common], help="look at a catalog file and suggest how to ingest it",
                       description="Read a sample of a catalog file: format, delimiter, encoding, rows, each "
                                   "column's type and examples, the columns that look like title, id, price "
                                   "and category, the depth cut validated on the rows (one line per depth), "
                                   "and a suggested `workbench ingest` command line.")
    p.add_argument("path", help="catalog file (CSV, JSON lines or array, Parquet, Excel; compressed too)")
    p.add_argument("--format", dest="fmt", choices=list(FORMATS), help="file format (default: from its bytes)")
    p.add_argument("--delimiter", help="CSV field delimiter (default: detected)")
    p.add_argument("--encoding", help="text encoding (default: detected)")
    p.add_argument("--sample", type=int, default=None, help="rows to inspect (default 50,000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_inspect)


def run_inspect(args) -> int:
    """Handler of ``workbench inspect``."""
    from workbench.catalog.inspect import SAMPLE_ROWS, inspect_file
    from workbench.catalog.inspect_report import format_inspection

    result = inspect_file(args.path, fmt=args.fmt, delimiter=args.delimiter, encoding=args.encoding,
                          sample=args.sample or SAMPLE_ROWS, shown_path=args.path)
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str) if args.json else format_inspection(result))
    return 0
