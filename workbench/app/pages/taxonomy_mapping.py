"""Taxonomy mapping: each catalog category with the standard category proposed for it
(``workbench map-taxonomy``), its score and status; pick a category to accept the proposal,
choose one of its top 3, or find any standard category by name (in the session's language
or English, as on the review page)."""

from __future__ import annotations

import panel as pn

from workbench.app.safe_text import escape_markdown
from workbench.app.state.taxonomy_mapping import MappingState
from workbench.app.widgets import alert, empty_state, intro, table
from workbench.errors import WorkbenchError

TITLE = "Taxonomy mapping"
ORDER = 75
NO_MAPPING = "No mapping onto a standard taxonomy yet (Shopify's, Google's or Best Buy's)."
HOW = ("each catalog category with the standard category proposed for it and its score (1 = sure); accept "
       "a proposal, choose one of its top 3, or search the whole standard tree.")


def view(ctx):
    """The taxonomy-mapping page."""
    state = MappingState(workspace=ctx.workspace, reviewer=ctx.actor, role=ctx.role, preferences=ctx.preferences,
                         authorize=ctx.require)  # the role read again at every write
    if state.kind is None:
        return pn.Column(intro(TITLE, HOW), empty_state(NO_MAPPING, "workbench map-taxonomy --to shopify"),
                         sizing_mode="stretch_width", css_classes=["wb-page", "wb-taxonomy-mapping"])
    readonly = ctx.role != "reviewer"
    kind = pn.widgets.Select.from_param(state.param.kind, width=160)
    categories = table(state.table(), decimals=("score",), page_size=15, selectable=1,
                       css_classes=["wb-mapping"])
    heading = pn.pane.Markdown(sizing_mode="stretch_width", css_classes=["wb-mapping-node"])
    alternatives = table(state.alternatives(), decimals=("score",), buttons={"choose": "✓ choose"},
                         hidden_columns=["node"], css_classes=["wb-alternatives"])
    search = pn.widgets.AutocompleteInput(
        label="Another standard category", options=state.search_options(), case_sensitive=False,
        search_strategy="includes", min_characters=2, restrict=True, width=520,
        placeholder="Search the standard tree…", css_classes=["wb-mapping-search"])
    accept = pn.widgets.Button(label="Accept", color="success", disabled=readonly, css_classes=["wb-map-accept"])
    pick = pn.widgets.Button(label="Map to the searched category", color="primary", disabled=readonly,
                             css_classes=["wb-map-pick"])
    message = pn.Column(sizing_mode="stretch_width", css_classes=["wb-message"])

    def show_node(*_):
        row = state.current()
        if row is None:
            heading.object = "Pick a category in the table."
        else:
            heading.object = (f"**{escape_markdown(row['catalog_node'])}** → "
                              f"{escape_markdown(state.target_name(row['target_node']))} "
                              f"(score {row['score']:.3f}, {escape_markdown(row['status'])})")
        alternatives.value = state.alternatives()
        search.value = ""

    def refresh(*_):
        categories.value = state.table()
        show_node()

    def languages(*_):
        search.options = state.search_options()
        refresh()

    def act(action):
        def run(*_):
            try:
                action()
            except WorkbenchError as exc:
                state.report_error(exc)
        return run

    def select(event):
        rows = event.new or []
        if rows:
            state.node = str(state.table()["catalog category"].iloc[rows[0]])

    categories.param.watch(select, "selection")
    state.param.watch(show_node, "node")
    state.param.watch(refresh, ["version", "kind"])
    state.param.watch(lambda *_: setattr(message, "objects", [alert(state.message, state.message_kind)]
                                         if state.message else []), ["message", "message_kind"])
    ctx.preferences.param.watch(languages, ["language", "search_languages"])
    accept.on_click(act(state.accept))
    pick.on_click(act(lambda: state.choose(search.value or "")))
    alternatives.on_click(lambda e: act(lambda: state.choose(alternatives.value.iloc[e.row]["node"]))()
                          if e.column == "choose" else None)
    show_node()
    layout = pn.Column(
        intro(TITLE, HOW),
        kind, categories, heading, alternatives, pn.Row(accept, search, pick, sizing_mode="stretch_width"),
        message, sizing_mode="stretch_width", css_classes=["wb-page", "wb-taxonomy-mapping"])
    layout.state = state
    return layout
