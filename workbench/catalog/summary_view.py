"""How a summary dataclass (an ingest, a classify, a review queue) shows in a notebook: its
text as a short HTML block instead of the dataclass repr, and ``to_frame()``: one row of its
counts."""

from __future__ import annotations

import dataclasses
import html

import pandas as pd


class SummaryView:
    """Mixin for dataclasses whose ``__str__`` is the summary a person reads."""

    def to_frame(self) -> pd.DataFrame:
        """One row: the summary's plain fields (nested counts as ``name/key`` columns)."""
        row: dict = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, dict):
                row.update({f"{f.name}/{k}": v for k, v in value.items()})
            elif isinstance(value, (list, tuple)):
                row[f.name] = "; ".join(map(str, value))
            elif not dataclasses.is_dataclass(value):
                row[f.name] = value
        return pd.DataFrame([row])

    def _repr_html_(self) -> str:
        """The summary's text, escaped, in a ``<pre>`` block."""
        return f"<pre class='wb-summary'>{html.escape(str(self))}</pre>"
