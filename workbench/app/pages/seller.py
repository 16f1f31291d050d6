"""The seller's page: a seller types a product (title, description, brand, photo) and gets the top
five categories with their paths and confidence; they pick one, search the taxonomy, or say none
fits, and the answer is stored as feedback with their name (never trained on until a reviewer
confirms it). A CSV of products gives a table whose every row's choice can be kept or changed,
then submitted at once. Sellers see this page only (``RIGHT = "sell"``)."""

from __future__ import annotations

import logging

import pandas as pd
import panel as pn

import workbench.app.data as data

from workbench.app.state.seller import NONE_FITS, SellerState
from workbench.app.widgets import alert, empty_state, html, html_table, intro, limited_dropper, photo_dropper
from workbench.errors import WorkbenchError
from workbench.security.safe_text import escape_html
from workbench.security.upload_limits import run_bounded

TITLE = "Seller's page"
ORDER = 62
RIGHT = "sell"
HOW = ("describe your product and press Suggest categories: the five categories the model finds most likely are "
       "listed with their confidence. Pick the one that fits (or search for another, or say none fits) and send "
       "your answer; a reviewer checks it before any model learns from it.")
log = logging.getLogger("workbench.app")


def suggestion_options(suggestions: pd.DataFrame | None) -> dict[str, str]:
    """The choices of the product on screen: its five suggestions (label -> leaf) and none fits."""
    if suggestions is None:
        return {}
    options = {f"{r}. {c} ({p:.1%})": c for r, c, p in zip(suggestions["rank"], suggestions["category"],
                                                         suggestions["probability"])}
    options["None of these fits"] = NONE_FITS
    return options


def choice_html(choice: str) -> str:
    """The seller's current choice, in words (escaped)."""
    if not choice:
        return "<p class='wb-seller-choice'>Your choice: <i>none picked yet</i></p>"
    shown = "none of the taxonomy's categories fits" if choice == NONE_FITS else choice
    return f"<p class='wb-seller-choice'>Your choice: <b>{escape_html(shown)}</b></p>"


def _photo(state: SellerState, limit_bytes: int) -> pn.Column:
    """The product's photo: checked while it arrives (size) and once whole (type, pixels)."""
    return photo_dropper(state, limit_bytes, lambda name: [alert(f"Photo {name} checked and attached.", "success")],
                         css="wb-seller-photo-upload", box_css="wb-seller-photo")


def _single(state: SellerState, limit_bytes: int) -> pn.Column:
    title = pn.widgets.TextInput.from_param(state.param.title,
                                            placeholder=f"e.g. {data.example_title(state.workspace)}",
                                            sizing_mode="stretch_width", css_classes=["wb-seller-title"])
    description = pn.widgets.TextAreaInput.from_param(state.param.description, height=70,
                                                      sizing_mode="stretch_width")
    brand = pn.widgets.TextInput.from_param(state.param.brand, width=300)
    suggest = pn.widgets.Button.from_param(state.param.classify, color="primary",
                                           css_classes=["wb-seller-suggest"])
    top5 = pn.bind(lambda s: html_table(s, percent=("probability",), css_classes=["wb-seller-top5"])
                   if s is not None else html(""), state.param.suggestions)
    picks = pn.widgets.RadioBoxGroup(options=pn.bind(suggestion_options, state.param.suggestions),
                                     css_classes=["wb-seller-picks"])
    pn.bind(lambda value: setattr(state, "choice", value or ""), picks.param.value, watch=True)
    search = pn.widgets.AutocompleteInput(
        label="Or search the taxonomy", options=pn.bind(lambda _: state.search_options(), state.param.suggestions),
        case_sensitive=False, search_strategy="includes", min_characters=2, restrict=True, width=460,
        placeholder="Search categories…", css_classes=["wb-seller-search"])
    pn.bind(lambda value: setattr(state, "choice", value) if value else None, search.param.value, watch=True)
    send = pn.widgets.Button.from_param(state.param.submit, color="success", css_classes=["wb-seller-send"])
    answer = pn.Column(
        pn.pane.Markdown("**Which category fits?**"), top5, picks, search,
        pn.pane.HTML(pn.bind(choice_html, state.param.choice), sizing_mode="stretch_width"), send,
        visible=pn.bind(lambda s: s is not None, state.param.suggestions), sizing_mode="stretch_width")
    return pn.Column(pn.pane.Markdown("### One product"), title, description, brand,
                     _photo(state, limit_bytes), suggest, answer, sizing_mode="stretch_width",
                     css_classes=["wb-seller-single"])


def _bulk(state: SellerState, ctx) -> pn.Column:
    limit = ctx.settings.upload_limit_bytes
    dropper, problem = limited_dropper(limit, css="wb-seller-upload", box_css="wb-seller-upload-problem")

    def on_upload(files):
        if not files:
            return
        filename, content = list(files.items())[-1]
        limits = ctx.settings.upload_limits
        try:
            run_bounded(state.load_bulk, filename, content, limit_bytes=limit, max_rows=ctx.settings.max_upload_rows,
                        limits=limits, seconds=limits.max_seconds, what=filename)
            problem.objects = []
        except WorkbenchError as exc:
            problem.objects = [alert(str(exc))]
        except Exception as exc:  # keep serving whatever the file holds
            log.exception("seller upload failed")
            problem.objects = [alert(f"Could not read {filename}: {type(exc).__name__}: {exc}")]

    pn.bind(on_upload, dropper.param.value, watch=True)
    rows = pn.widgets.IntInput.from_param(state.param.row, width=100, css_classes=["wb-seller-row"])
    search = pn.widgets.AutocompleteInput(
        label="New choice", options=pn.bind(lambda _: state.search_options(), state.param.bulk),
        case_sensitive=False, search_strategy="includes", min_characters=2, restrict=True, width=460,
        placeholder="Search categories…", css_classes=["wb-seller-bulk-search"])
    pn.bind(lambda value: setattr(state, "new_choice", value or ""), search.param.value, watch=True)
    change = pn.widgets.Button.from_param(state.param.change_row, css_classes=["wb-seller-change"])
    send = pn.widgets.Button.from_param(state.param.submit_bulk, color="success",
                                        css_classes=["wb-seller-send-bulk"])
    bulk_table = pn.bind(lambda b: html_table(
        b[["row", "title", "suggestion", "probability", "choice", "choice_probability", "changed"]],
        percent=("probability", "choice_probability"), css_classes=["wb-seller-bulk"]) if b is not None
        else html(""), state.param.bulk)
    editing = pn.Column(bulk_table, pn.Row(rows, search, change, align="end"), send,
                        visible=pn.bind(lambda b: b is not None, state.param.bulk), sizing_mode="stretch_width")
    return pn.Column(
        pn.pane.Markdown(f"### A CSV of products\nOne row per product with a `title` column (or `product_name`), "
                         f"optionally `description`, `brand` and your own `id`; UTF-8, at most "
                         f"{ctx.settings.upload_limit_mb:g} MB. Each row starts on the first suggestion: change the "
                         "wrong ones, then submit every row at once."),
        dropper, problem, editing, sizing_mode="stretch_width", css_classes=["wb-seller-bulk-box"])


def view(ctx):
    """The seller's page."""
    from workbench.runs.predictor import runs_with_models

    if not runs_with_models(ctx.workspace):
        return empty_state("No model can suggest categories yet: an admin trains one first.", "workbench train")
    state = SellerState(workspace=ctx.workspace, seller=ctx.actor, role=ctx.role,
                        authorize=lambda: ctx.require("sell"))
    message = pn.bind(lambda m, kind: [alert(m, kind)] if m else [], state.param.message, state.param.message_kind)
    return pn.Column(
        intro(TITLE, HOW),
        pn.Column(objects=message, sizing_mode="stretch_width", css_classes=["wb-seller-message"]),
        pn.FlexBox(_single(state, ctx.settings.upload_limit_bytes), _bulk(state, ctx), gap="1.5em",
                   sizing_mode="stretch_width"),
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-seller-page"])
