"""State of the Taxonomy page: the tree with products per node, its versions, and the operations
of :mod:`workbench.loop.taxonomy_changes` (rename, move, merge, split by keywords, add, retire,
undo). Everyone may look; changing needs the ``change_taxonomy`` right (admin), checked again at
every write."""

from __future__ import annotations

import pandas as pd
import param

from workbench.catalog.taxonomy_versions import current_version
from workbench.errors import WorkbenchError
from workbench.loop import taxonomy_changes as tc
from workbench.loop.taxonomy_plan import TaxonomyChange
from workbench.loop.taxonomy_split import split
from workbench.loop.taxonomy_undo import undo
from workbench.app.state.authorized import AuthorizedState

OPERATIONS = {"rename": "Rename", "move": "Move under another parent", "merge": "Merge into",
              "split": "Split by keywords", "add": "Add a category", "retire": "Retire a leaf"}
#: what the second field means for each operation
ARGUMENT_LABELS = {"rename": "New name", "move": "New parent (empty: top level)", "merge": "Into (full path)",
                   "split": "Children (comma-separated)", "add": "(not used)", "retire": "(not used)"}


class TaxonomyState(AuthorizedState):
    """The operation being filled in, and the last outcome."""

    RIGHT, ACTOR = "change_taxonomy", "actor"
    actor = param.String(default="local")
    role = param.String(default="admin")
    op = param.Selector(default="rename", objects={label: op for op, label in OPERATIONS.items()}, label="Operation")
    node = param.String(default="", label="Category (full path)")
    argument = param.String(default="", label="New name")
    keywords = param.String(default="", label="Keywords (split: Child=word,word; Child=word)")
    search = param.String(default="", label="Search the tree")

    @param.depends("op", watch=True, on_init=True)
    def _label(self) -> None:
        self.param.argument.label = ARGUMENT_LABELS[self.op]

    def taxonomy_version(self) -> int:
        """The workspace taxonomy's version (0: as ingested)."""
        return current_version(self.workspace)

    def tree(self) -> pd.DataFrame:
        """``category, level, products, leaf`` of every node, top-down (filtered by ``search``)."""
        frame = self.workspace.df("SELECT node_id, level, n_products, is_leaf FROM categories ORDER BY node_id")
        out = pd.DataFrame({"category": frame["node_id"].astype(object), "level": frame["level"].astype("int64"),
                            "products": frame["n_products"].astype("int64"), "leaf": frame["is_leaf"].astype(bool)})
        if self.search.strip():
            out = out[out["category"].str.contains(self.search.strip(), case=False, regex=False)]
        return out.reset_index(drop=True)

    def nodes(self) -> list[str]:
        """Every node id (the category field's suggestions)."""
        return self.workspace.df("SELECT node_id FROM categories ORDER BY node_id")["node_id"].tolist()

    def history(self) -> pd.DataFrame:
        """Every version, newest first."""
        frame = tc.taxonomy_history(self.workspace)
        return frame[["version", "op", "what", "by", "at", "counts", "flags", "undone_by"]] \
            if len(frame) else pd.DataFrame(columns=["version", "op", "what", "by", "at"])

    def _keywords(self) -> dict[str, list[str]]:
        out = {}
        for part in self.keywords.split(";"):
            if not part.strip():
                continue
            child, sep, words = part.partition("=")
            if not sep:
                raise WorkbenchError(f"keywords {part.strip()!r}: write Child=word,word (children separated by ;)")
            out[child.strip()] = [w.strip() for w in words.split(",") if w.strip()]
        return out

    def apply(self) -> TaxonomyChange:
        """Make the change filled in (refused unless the session may change the taxonomy)."""
        self._check_may_write()
        node, arg = self.node.strip(), self.argument.strip()
        if not node:
            raise WorkbenchError("pick a category (its full path) first")
        if self.op == "rename":
            change = tc.rename(self.workspace, node, arg, by=self.actor)
        elif self.op == "move":
            change = tc.move(self.workspace, node, arg or None, by=self.actor)
        elif self.op == "merge":
            change = tc.merge(self.workspace, [node], into=arg, by=self.actor)
        elif self.op == "split":
            children = [c.strip() for c in arg.split(",") if c.strip()]
            change = split(self.workspace, node, children, keywords=self._keywords() or None, by=self.actor)
        elif self.op == "add":
            change = tc.add(self.workspace, node, by=self.actor)
        else:
            change = tc.retire(self.workspace, node, by=self.actor)
        self._done(change)
        return change

    def undo(self) -> TaxonomyChange:
        """Undo the newest change in force."""
        self._check_may_write()
        change = undo(self.workspace, by=self.actor)
        self._done(change)
        return change

    def _done(self, change: TaxonomyChange) -> None:
        self.version += 1
        self.param.update(message=str(change), message_kind="warning" if change.flags else "success")

    def report_error(self, exc: Exception) -> None:
        """Show a refused or failed change on the page."""
        self.param.update(message=str(exc), message_kind="danger")
