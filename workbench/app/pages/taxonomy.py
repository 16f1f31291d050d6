"""Taxonomy: the category tree with products per node, its versions and history, and forms for
the changes (rename, move, merge, split by keywords, add, retire, undo). Everyone may look;
changing needs the admin role, checked by the server at every change."""

from __future__ import annotations

import panel as pn

import workbench.app.data as data

from workbench.app.state.taxonomy import TaxonomyState
from workbench.app.widgets import alert, empty_state, guarded_action, html, intro, table
from workbench.security.safe_text import escape_html

TITLE = "Taxonomy"
ORDER = 78
HOW = ("the category tree with its products, every version of it, and the changes an admin makes here: "
       "products, labels, reviews, the review queue, thresholds and mappings follow, and a run trained "
       "before answers with the current paths. Every change can be undone (newest first).")


def version_html(version: int) -> str:
    """The version line."""
    return (f"<p class='wb-taxonomy-version'><b>Taxonomy version {int(version)}</b>"
            f"{' (as ingested)' if not version else ''}</p>")


def messages(message: str, kind: str) -> list:
    """The answer to the last change (plain text: category names come from catalogs)."""
    return [alert(message, kind)] if message else []


def view(ctx):
    """The Taxonomy page."""
    if not ctx.workspace.scalar("SELECT count(*) FROM categories"):
        return empty_state("No categories in this workspace yet: the tree comes from the catalog's paths.",
                           "workbench ingest FILE", "wb-no-taxonomy")
    state = TaxonomyState(workspace=ctx.workspace, actor=ctx.actor, role=ctx.role, authorize=ctx.require)
    may = ctx.may("change_taxonomy")

    def act(action):
        return guarded_action(state, action)

    tree = table(state.tree(), page_size=15, css_classes=["wb-taxonomy-tree"])
    tree.value = pn.bind(lambda *_: state.tree(), state.param.version, state.param.search)
    tree.on_click(lambda e: setattr(state, "node", str(tree.value.iloc[e.row]["category"]))
                  if 0 <= e.row < len(tree.value) else None)
    history = table(state.history(), page_size=10, css_classes=["wb-taxonomy-history"])
    history.value = pn.bind(lambda *_: state.history(), state.param.version)
    operation = pn.widgets.Select.from_param(state.param.op, width=230, css_classes=["wb-taxonomy-op"])
    node = pn.widgets.TextInput.from_param(state.param.node, width=460, css_classes=["wb-taxonomy-node"],
                                           placeholder=f"e.g. {data.example_path(ctx.workspace)} "
                                                       "(click a row of the tree)")
    argument = pn.widgets.TextInput.from_param(state.param.argument, width=320, css_classes=["wb-taxonomy-arg"])
    keywords = pn.widgets.TextInput.from_param(state.param.keywords, width=460, css_classes=["wb-taxonomy-keywords"],
                                               visible=pn.bind(lambda op: op == "split", state.param.op))
    apply = pn.widgets.Button(label="Apply change", color="danger", disabled=not may,
                              css_classes=["wb-taxonomy-apply"])
    pn.bind(act(state.apply), apply, watch=True)
    undo = pn.widgets.Button(label="Undo the newest change", disabled=not may, css_classes=["wb-taxonomy-undo"])
    pn.bind(act(state.undo), undo, watch=True)
    note = [] if may else [html(f"<p class='wb-note'>changing the taxonomy needs the admin role "
                                f"({escape_html(ctx.role)} here): you may look</p>")]
    layout = pn.Column(
        intro(TITLE, HOW),
        html(pn.bind(lambda *_: version_html(state.taxonomy_version()), state.param.version)),
        pn.FlexBox(operation, node, argument, sizing_mode="stretch_width"), keywords,  # wraps on small screens
        pn.Row(apply, undo), *note,
        pn.Column(objects=pn.bind(messages, state.param.message, state.param.message_kind),
                  sizing_mode="stretch_width", css_classes=["wb-message"]),
        pn.widgets.TextInput.from_param(state.param.search, width=420, placeholder="any part of a path",
                                        css_classes=["wb-taxonomy-search"]),
        tree, pn.pane.Markdown("### Versions"), history,
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-taxonomy"])
    layout.state = state
    return layout
