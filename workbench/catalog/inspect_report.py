"""The text of ``workbench inspect`` (the JSON form is :func:`workbench.catalog.inspect.inspect_file`)."""

from __future__ import annotations

import textwrap
from typing import Any

MAX_COLUMNS_SHOWN = 60


def _delimiter(d: str | None) -> str:
    return {"\t": "tab", None: "-"}.get(d, repr(d))


def format_inspection(result: dict[str, Any]) -> str:
    """The inspection as lines for the terminal."""
    rows = (f"{result['rows']:,}" if result["rows"] is not None
            else f"more than {result['rows_read']:,} (the first {result['rows_read']:,} inspected)")
    how = [f"{result['format'].upper()}"]
    if result["format"] == "csv":
        how.append(f"delimiter {_delimiter(result['delimiter'])}")
    if result["encoding"]:
        how.append(f"encoding {result['encoding']}")
    how.append(f"{result['compression']}-compressed" if result["compression"] else "not compressed")
    lines = [f"file        {result['file']}", f"format      {', '.join(how)}",
             f"rows        {rows}" + (f" ({result['malformed_rows']:,} malformed: rejected at ingest)"
                                      if result["malformed_rows"] else "")]
    lines += [f"note        {n}" for n in result["notes"]]
    cols = result["columns"]
    width = min(max([len(c["name"]) for c in cols] + [6]), 28)
    lines += ["", f"{'column':<{width}}  {'type':<13} {'empty':>6} {'distinct':>9}  examples"]
    for c in cols[:MAX_COLUMNS_SHOWN]:
        examples = " | ".join(c["examples"])
        lines.append(f"{c['name'][:width]:<{width}}  {c['type']:<13} {c['empty']:>6.1%} {c['distinct']:>9,}  {examples}")
    if len(cols) > MAX_COLUMNS_SHOWN:
        lines.append(f"... and {len(cols) - MAX_COLUMNS_SHOWN:,} more columns (all of them in --json)")
    g = result["guess"]
    lines += ["", "looks like"]
    lines.append(f"  title        {g['title'] or '(none found: name the product-name column with --map title=COLUMN)'}")
    if g["id"]:
        share = result.get("id_unique_share", 1.0)
        unique = "unique" if share >= 1 else f"{share:.2%} unique: repeated ids are rejected (or --on-duplicate)"
        lines.append(f"  id           {g['id']} ({unique})")
    else:
        lines.append("  id           (none: ids are generated from the file name and row number)")
    for field in ("price", "brand", "description", "image", "department"):
        if g[field]:
            photos = result.get("photos") if field == "image" else None
            lines.append(f"  {field:<12} {g[field]}" + (f" ({photos['text']})" if photos else ""))
    lines += _category_lines(g["category"])
    if result.get("language"):
        lines += ["", f"language    {result['language']['text']}"]
    lines += [f"warning     {w}" for w in result.get("warnings", [])]
    lines += ["", "suggested command (copy it; check the columns above first)"]
    lines.append(f"  {result['command']}" if result["command"] else "  (none: no title column found)")
    return "\n".join(lines)


def _category_lines(category: dict | None) -> list[str]:
    if not category:
        return ["  category     (none found: map one with category=COLUMN --sep SEP or levels=A|B|C)"]
    if category.get("levels"):
        head = f"  category     level columns {' > '.join(category['levels'])}"
    else:
        sep = category.get("written") or repr(category["sep"])
        head = f"  category     {category['column']}: {category['format']}, separator {sep}"
    lines = [head]
    if category.get("options", {}).get("strip_name_node"):
        lines.append(f"               {category['name_node_share']:.0%} of paths end in the product's own name "
                     "(--strip-name-node)")
    lines.append(f"               {'depth':>5} {'rows ending here':>17} {'distinct paths':>15}")
    for depth, distinct in category["distinct_per_depth"].items():
        rows = category["depth_histogram"].get(depth, 0)
        lines.append(f"               {depth:>5} {rows:>17,} {distinct:>15,}")
    choice = category.get("depth_choice")
    if choice:
        lines.append(f"               depth cut: the deepest level a quick model tells apart with validated "
                     f"accuracy >= {choice['bar']:.2f}")
        lines.append(f"               (char tfidf of {choice.get('reads', 'title')}, LinearSVC; "
                     f"{choice['rows']:,} rows, 3/4 train, 1/4 validation by title)")
        lines += [f"                 {_figure_line(f)}" for f in choice["figures"]]
    if category.get("rare_leaves"):
        lines += textwrap.wrap(category["rare_leaves"]["text"], 110, initial_indent=" " * 15,
                               subsequent_indent=" " * 17)
    return lines


def _figure_line(figure: dict) -> str:
    """One depth of the validated choice (the JSON's figures) as the line a person reads."""
    from workbench.catalog.depth_choice import DepthFigure

    return DepthFigure(**figure).line()
