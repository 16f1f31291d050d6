"""What an ingest tells the user: the summary (counts, reject reasons, warnings, notes) and the
error raised when no row of a file survives, naming its largest reject reasons with an example."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from workbench.catalog.summary_view import SummaryView


@dataclass
class IngestSummary(SummaryView):
    """What an ingest did: counts, reject reasons, warnings, merges, notes, and whether it was a repeat."""

    source: str
    fingerprint: str
    accepted: int
    rejected: int
    reject_reasons: dict[str, int] = field(default_factory=dict)
    merged_leaves: int = 0
    already_ingested: bool = False
    warnings: int = 0
    warning_reasons: dict[str, int] = field(default_factory=dict)
    warning_examples: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    merge_notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.already_ingested:
            return f"{self.source}: already ingested (fingerprint {self.fingerprint[:12]}); nothing changed"
        lines = [f"{self.source}: {self.accepted:,} products accepted, {self.rejected:,} rejected"
                 + (f", {self.warnings:,} warnings" if self.warnings else "")]
        for reason, n in sorted(self.reject_reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"  rejected {n:,}: {reason}")
        for kind, n in sorted(self.warning_reasons.items(), key=lambda kv: -kv[1]):
            example = self.warning_examples.get(kind)
            lines.append(f"  warning {n:,}: {kind} (field emptied, product kept)"
                         + (f", e.g. {example}" if example else ""))
        if self.merged_leaves:
            lines.append(f"  {self.merged_leaves:,} rare categories merged (see table category_merges)")
        lines += [f"  {note}" for note in self.merge_notes]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


def merge_notes(merges: pd.DataFrame, small: pd.DataFrame, min_count: int, shown: int = 5) -> list[str]:
    """Where the rare categories went, largest first (``merged into 'A > Other A': 3 categories,
    17 products``), and the leaves left under ``min_count`` with why (``merges``: the
    ``category_merges`` rows; ``small``: ``node_id, n_products`` of the leaves under the minimum)."""
    out = []
    if len(merges):
        by_target = (merges.groupby("merged_into")
                     .agg(categories=("original", "size"), products=("n_products", "sum"))
                     .sort_values(["products", "categories"], ascending=False))
        for target, row in by_target.head(shown).iterrows():
            out.append(f"merged into {target!r}: {int(row['categories']):,} categories, "
                       f"{int(row['products']):,} products")
        if len(by_target) > shown:
            out.append(f"... and {len(by_target) - shown:,} more merge targets (all of them in category_merges)")
    if len(small):
        example = ", ".join(f"{n!r} ({int(c)})" for n, c in small.head(3).itertuples(index=False))
        many = len(small) > 1
        out.append(f"{len(small):,} {'leaves stay' if many else 'leaf stays'} under --min-count {min_count} "
                   f"(products kept: nowhere further up to merge {'them' if many else 'it'}), e.g. {example}")
    return out


def counts(frame: pd.DataFrame, column: str) -> dict[str, int]:
    """``{value: count}`` of a column, largest first."""
    if frame.empty:
        return {}
    return {str(k): int(v) for k, v in frame[column].value_counts().items()}


def examples(warnings: pd.DataFrame) -> dict[str, str]:
    """One example reason text per warning kind (``"price not understood: \\"call us\\""``)."""
    if warnings.empty:
        return {}
    first = warnings.drop_duplicates("kind")
    return {k: r.partition(": ")[2] or r for k, r in zip(first["kind"], first["reason"])}


def no_product_message(name: str, rejects: pd.DataFrame, rows: int, top: int = 3) -> str:
    """One line: no row survived, with the largest reject reasons, their counts and an example each."""
    if rows == 0 or rejects.empty:
        return f"{name} has a header but no product rows; export the catalog with its rows"
    parts = []
    for reason, n in list(counts(rejects, "reason").items())[:top]:
        row = rejects[rejects["reason"] == reason].iloc[0]
        parts.append(f"{n:,} x {reason} (e.g. row {int(row['row_number'])}: {_short(row['raw'])})")
    more = len(counts(rejects, "reason")) - top
    tail = f"; and {more} other reason(s)" if more > 0 else ""
    return (f"no product of {name} was accepted ({len(rejects):,} rows rejected): " + "; ".join(parts) + tail
            + "; fix these rows or the --map columns and ingest again (nothing was written)")


def _short(raw, width: int = 90) -> str:
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, dict):
        value = value.get("line", value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."
