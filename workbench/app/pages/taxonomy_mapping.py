"""Taxonomy mapping: each catalog category with the standard category proposed for it
(``workbench map-taxonomy``), its score and status; pick a category to accept the proposal,
choose one of its top 3, or find any standard category by name (in the session's language
or English, as on the review page)."""

from __future__ import annotations

import panel as pn

from workbench.security.safe_text import escape_html
from workbench.app.state.taxonomy_mapping import MappingState
from workbench.app.widgets import alert, empty_state, guarded_action, html, intro, table

TITLE = "Taxonomy mapping"
ORDER = 75
NO_MAPPING = "No mapping onto a standard taxonomy yet (Shopify's, Google's or Best Buy's)."
HOW = ("each catalog category with the standard category proposed for it and its score (1 = sure); accept "
       "a proposal, choose one of its top 3, or search the whole standard tree.")


def node_html(row: dict | None, target_name) -> str:
    """The catalog category on screen and its proposal, in words (catalog text escaped)."""
    if row is None:
        return "<p>Pick a category in the table.</p>"
    return (f"<p><b>{escape_html(row['catalog_node'])}</b> → {escape_html(target_name(row['target_node']))} "
            f"(score {row['score']:.3f}, {escape_html(row['status'])})</p>")


def messages(message: str, kind: str) -> list:
    """The answer to the last decision."""
    return [alert(message, kind)] if message else []


def view(ctx):
    """The taxonomy-mapping page."""
    state = MappingState(workspace=ctx.workspace, reviewer=ctx.actor, role=ctx.role, preferences=ctx.preferences,
                         authorize=ctx.require)  # the role read again at every write
    if state.kind is None:
        return pn.Column(intro(TITLE, HOW), empty_state(NO_MAPPING, "workbench map-taxonomy --to shopify"),
                         sizing_mode="stretch_width", css_classes=["wb-page", "wb-taxonomy-mapping"])
    readonly = not ctx.may("review")
    names = [ctx.preferences.param.language, ctx.preferences.param.search_languages]
    changed = [state.param.node, state.param.version, state.param.kind, *names]
    # decisions saved elsewhere (another tab, the command line) show in the tables; the search stays
    shown = [*changed, ctx.news.param.writes]

    def act(action):
        return guarded_action(state, action)

    categories = table(state.table(), decimals=("score",), page_size=15, selectable=1, css_classes=["wb-mapping"])
    categories.value = pn.bind(lambda *_: state.table(), state.param.version, state.param.kind, *names,
                               ctx.news.param.writes)
    pn.bind(lambda rows: setattr(state, "node", str(state.table()["catalog category"].iloc[rows[0]]))
            if rows else None, categories.param.selection, watch=True)
    alternatives = table(state.alternatives(), decimals=("score",), buttons={"choose": "✓ choose"},
                         hidden_columns=["node"], css_classes=["wb-alternatives"])
    alternatives.value = pn.bind(lambda *_: state.alternatives(), *shown)
    # a click on a cell's "choose" is an event of the table (no parameter holds it)
    alternatives.on_click(lambda e: act(lambda: state.choose(alternatives.value.iloc[e.row]["node"]))()
                          if e.column == "choose" else None)
    search = pn.widgets.AutocompleteInput(
        label="Another standard category", options=pn.bind(lambda *_: state.search_options(), *names),
        value=pn.bind(lambda *_: "", *changed), case_sensitive=False, search_strategy="includes", min_characters=2,
        restrict=True, width=520, placeholder="Search the standard tree…", css_classes=["wb-mapping-search"])
    accept = pn.widgets.Button(label="Accept", color="success", disabled=readonly, css_classes=["wb-map-accept"])
    pick = pn.widgets.Button(label="Map to the searched category", color="primary", disabled=readonly,
                             css_classes=["wb-map-pick"])
    pn.bind(act(state.accept), accept, watch=True)
    pn.bind(act(lambda: state.choose(search.value or "")), pick, watch=True)
    heading = html(pn.bind(lambda *_: node_html(state.current(), state.target_name), *shown),
                   css_classes=["wb-mapping-node"])
    layout = pn.Column(
        intro(TITLE, HOW), pn.widgets.Select.from_param(state.param.kind, width=160), categories, heading,
        alternatives, pn.Row(accept, search, pick, sizing_mode="stretch_width"),
        pn.Column(objects=pn.bind(messages, state.param.message, state.param.message_kind),
                  sizing_mode="stretch_width", css_classes=["wb-message"]),
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-taxonomy-mapping"])
    layout.state = state
    layout.follows = True  # its tables follow ctx.news
    return layout
