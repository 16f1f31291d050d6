"""State of the taxonomy-mapping page: the catalog's categories mapped onto a standard tree,
reviewed one at a time (accept the proposal, or pick an alternative or any node found by the
same search as the review page). Only the ``reviewer`` role may change a mapping."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
import param

from workbench.app.state.authorized import AuthorizedState
from workbench.app.context import Preferences
from workbench.catalog.category_names import shopify_paths, standard_search_options
from workbench.catalog.standard_mapping import accept_mapping, choose_mapping, load_mapping, mapped_kinds
from workbench.catalog.taxonomy_sources import SourceTaxonomy, load_source
from workbench.errors import WorkbenchError


@lru_cache(maxsize=3)
def standard_tree(kind: str) -> SourceTaxonomy:
    """A standard tree, loaded once per process."""
    return load_source(kind)


class MappingState(AuthorizedState):
    """The standard tree, the catalog category on screen and the last outcome."""

    RIGHT, ACTOR = "review", "reviewer"
    reviewer = param.String(default="local")
    role = param.String(default="reviewer")
    preferences = param.ClassSelector(class_=Preferences, default=None, allow_None=True)
    kind = param.Selector(default=None, objects=[], allow_None=True, label="Standard tree")
    node = param.String(default="", doc="the catalog category on screen")

    def __init__(self, **params):
        super().__init__(**params)
        kinds = mapped_kinds(self.workspace)
        self.param.kind.objects = kinds
        if self.kind is None and kinds:
            with param.parameterized.discard_events(self):
                self.kind = kinds[0]
        frame = self.mapping()
        if not self.node and len(frame):
            pending = frame[frame["status"] == "proposed"]
            self.node = str((pending if len(pending) else frame)["catalog_node"].iloc[0])

    def languages(self) -> list[str]:
        """Display language first, then the search languages."""
        return (self.preferences or Preferences()).languages()

    def target_name(self, node: str | None) -> str:
        """A standard node in the display language (Shopify; English fallback)."""
        if not node:
            return ""
        if self.kind == "shopify":
            return shopify_paths(self.languages()[0]).get(node, node)
        return node

    def mapping(self) -> pd.DataFrame:
        """The stored mapping onto the chosen tree (empty without one)."""
        if self.kind is None:
            return pd.DataFrame(columns=["catalog_node", "target_node", "score", "status", "alternatives"])
        return load_mapping(self.workspace, self.kind)

    def table(self) -> pd.DataFrame:
        """``catalog category, standard category, score, status`` for every mapped category."""
        frame = self.mapping()
        return pd.DataFrame({"catalog category": frame["catalog_node"].astype(object),
                             "standard category": [self.target_name(t) for t in frame["target_node"]],
                             "score": frame["score"].astype(float), "status": frame["status"].astype(object)})

    def current(self) -> dict | None:
        """The row of the category on screen."""
        frame = self.mapping()
        hit = frame[frame["catalog_node"] == self.node]
        return None if hit.empty else hit.iloc[0].to_dict()

    def alternatives(self) -> pd.DataFrame:
        """``rank, standard category, score, node`` of the proposal's top 3."""
        row = self.current() or {"alternatives": []}
        alts = row["alternatives"]
        return pd.DataFrame({"rank": pd.Series(range(1, len(alts) + 1), dtype="int64"),
                             "standard category": pd.Series([self.target_name(a["node"]) for a in alts], dtype=object),
                             "score": pd.Series([a["score"] for a in alts], dtype=float),
                             "node": pd.Series([a["node"] for a in alts], dtype=object)})

    def search_options(self) -> dict[str, str]:
        """``{label: node}`` over the whole standard tree, names in every session language."""
        if self.kind is None:
            return {}
        return standard_search_options(self.kind, standard_tree(self.kind).taxonomy.nodes, self.languages())

    def _done(self, text: str) -> None:
        self.version += 1
        self.param.update(message=text, message_kind="success")

    def accept(self) -> None:
        """Keep the proposal of the category on screen."""
        self._check_may_write()
        accept_mapping(self.workspace, self.kind, self.node, self.reviewer)
        self._done(f"Accepted: {self.node} → {self.target_name((self.current() or {}).get('target_node'))}")

    def choose(self, target: str) -> None:
        """Map the category on screen onto ``target`` (a node of the standard tree)."""
        self._check_may_write()
        tree = standard_tree(self.kind)
        if target not in tree.source_ids:
            raise WorkbenchError(f"{target!r} is not a category of the {self.kind} taxonomy; "
                                 "pick one of the search box's suggestions")
        choose_mapping(self.workspace, self.kind, self.node, target, tree.source_ids[target], self.reviewer)
        self._done(f"Mapped {self.node} → {self.target_name(target)}")

    def report_error(self, exc: Exception) -> None:
        """Show a refused or failed action on the page."""
        self.message, self.message_kind = str(exc), "danger"
