"""Classify: a product typed in (title, description, brand, and optionally its photo) gives the
top-5 categories with full paths and probabilities and the shelving decision under the published thresholds; a CSV upload
gives a downloadable CSV of predictions. Uses a run's saved model; nothing is trained here."""

from __future__ import annotations

import io
import logging
import re
import threading

import panel as pn

import workbench.app.data as data

from workbench.security.safe_text import escape_html, escape_markdown
from workbench.app.state import ClassifyState
from workbench.app.why import WHY_STYLE, explanation_html, neighbour_photos
from workbench.app.glossary import define
from workbench.app.widgets import alert, empty_state, html, intro, limited_dropper, photo_dropper, table
from workbench.catalog.people_csv import people_csv_text
from workbench.errors import WorkbenchError
from workbench.security.upload_limits import run_bounded

TITLE = "Classify"
#: the decision rules as the page names them (the glossary defines min-risk and tree distance beside them)
RULE_LABELS = {"most probable": "argmax", "least far-off mistake": "min-risk"}
ORDER = 60
HOW = ("type a title (or upload a CSV): the table lists the model's five best categories with their confidence, "
       "and the line below says whether the product would be shelved automatically or go to review.")
WARM = True  # rendered once at server start (fills caches, compiles datashader)
PREVIEW_COLUMNS = ("predicted_category", "confidence", "decision")
log = logging.getLogger("workbench.app")


def _in_doc(doc, func, *args) -> None:
    from panel.io.state import set_curdoc

    with set_curdoc(doc):
        func(*args)


def decision_text(decision: dict, published: bool) -> tuple[str, str]:
    """The shelving decision in words, and the alert kind."""
    if not published:
        return ("No thresholds are published yet, so this product goes to **review** "
                "(publish thresholds on the Threshold explorer page).", "warning")
    category = escape_markdown(decision["category"])
    if decision["decision"] == "shelved":
        return (f"**Shelved automatically** in {category} (confidence "
                f"{decision['confidence']:.3f} ≥ threshold {decision['threshold']:.3f}).", "success")
    return (f"**Sent to review**: confidence {decision['confidence']:.3f} is below the threshold "
            f"{decision['threshold']:.3f} of {category}.", "warning")


def _photo(state: ClassifyState, limit_bytes: int):
    """The photo beside the title: checked as it arrives, shown, and read by multimodal runs."""
    def shown(_name: str) -> list:
        note = ("The chosen run reads photos: the prediction uses this one." if state.multimodal else
                "The chosen run reads text only; pick a `fusion` or `image` run to use the photo.")
        return [pn.pane.Image(io.BytesIO(state.photo), height=160, css_classes=["wb-photo-preview"]),
                pn.pane.Markdown(note, css_classes=["wb-photo-note"])]

    return photo_dropper(state, limit_bytes, shown, css="wb-photo-upload", box_css="wb-photo")


def classify_why_html(state: ClassifyState) -> str:
    """The explanation of the product typed on the page, by the chosen run and rule (the
    notebook's ``wb.explain`` answer)."""
    from workbench.runs.explain import Explainer
    from workbench.runs.explain_index import neighbour_index

    try:
        explainer = Explainer(state.predictor(), neighbour_index(state.workspace))
        [exp] = explainer.explain([{"title": state.title, "description": state.description or None,
                                    "brand": state.brand or None}], 5, decision=state.decision)
    except WorkbenchError as exc:
        return f"<div class='wb-why'>No explanation: {escape_html(exc)}</div>"
    return explanation_html(exp, neighbour_photos(state.workspace, exp))


def _single(state: ClassifyState, limit_bytes: int):
    title = pn.widgets.TextInput.from_param(state.param.title,
                                            placeholder=f"e.g. {data.example_title(state.workspace)}",
                                            sizing_mode="stretch_width", css_classes=["wb-title"])
    description = pn.widgets.TextAreaInput.from_param(state.param.description, height=80,
                                                      sizing_mode="stretch_width")
    brand = pn.widgets.TextInput.from_param(state.param.brand, width=300)
    photo = _photo(state, limit_bytes)
    button = pn.widgets.Button(label="Classify", color="primary", css_classes=["wb-classify"])
    result = pn.Column(sizing_mode="stretch_width", css_classes=["wb-result"])

    def run(_):
        try:
            top, decision = state.classify()
        except WorkbenchError as exc:
            result.objects = [alert(str(exc))]
            return
        text, kind = decision_text(decision, state.thresholds()[2])
        result.objects = [table(top, percent=("probability",), css_classes=["wb-top5"]),
                          alert(text, kind, markdown=True),
                          pn.pane.Markdown("**Why this category?**"),
                          pn.pane.HTML(classify_why_html(state), stylesheets=[WHY_STYLE],
                                       sizing_mode="stretch_width", css_classes=["wb-why-box"])]

    pn.bind(run, button, watch=True)
    return pn.Column(pn.pane.Markdown("### One product"), title, description, brand, photo, button, result,
                     sizing_mode="stretch_width")


def upload_result(filename: str, outcome) -> list:
    """What the page shows for an uploaded file: the refusal, or the summary, the download and a
    preview of the classified rows."""
    if isinstance(outcome, WorkbenchError):
        return [alert(str(outcome))]
    if isinstance(outcome, Exception):  # keep serving whatever the file holds
        return [alert(f"Could not classify {filename}: {type(outcome).__name__}: {outcome}")]
    out, upload = outcome
    stem = re.sub(r"[^\w.-]+", "_", filename.rsplit(".", 1)[0]).strip("._")[:80] or "products"
    download = pn.widgets.FileDownload(  # formulas in seller text neutralised for spreadsheets
        file=io.BytesIO(people_csv_text(out).encode("utf-8")), filename=f"{stem}_predictions.csv",
        label=f"Download {len(out):,} predictions (CSV)", color="success",
        css_classes=["wb-download"])
    shelved = int((out["decision"] == "shelved").sum())
    notes = [f"Classified **{len(out):,}** products from {escape_markdown(filename)}: "
             f"{shelved:,} would be shelved, {len(out) - shelved:,} sent to review."]
    if upload.skipped:
        notes.append(f"{upload.skipped:,} malformed lines were skipped.")
    preview_cols = [c for c in out.columns[:2] if c not in PREVIEW_COLUMNS] + list(PREVIEW_COLUMNS)
    return [alert(" ".join(notes), "success", markdown=True), download,
            table(out[preview_cols].head(20), percent=("confidence",))]


def _upload(state: ClassifyState, ctx):
    limit = ctx.settings.upload_limit_bytes
    dropper, result = limited_dropper(limit, css="wb-upload", box_css="wb-upload-result")

    def show(filename: str, outcome) -> None:
        result.objects = upload_result(filename, outcome)

    def on_upload(files: dict):
        if not files:
            return
        filename, content = list(files.items())[-1]
        limits = ctx.settings.upload_limits
        result.objects = [alert(f"Reading {filename}...", "info")]
        doc = pn.state.curdoc

        def work():  # parsing and scoring off the event loop: other sessions keep being answered
            try:
                outcome = run_bounded(state.classify_upload, filename, content, limit_bytes=limit,
                                      max_rows=ctx.settings.max_upload_rows, limits=limits,
                                      seconds=limits.max_seconds, what=filename)
            except Exception as exc:
                if not isinstance(exc, WorkbenchError):
                    log.exception("upload failed")
                outcome = exc
            if doc is None:
                show(filename, outcome)
            else:
                doc.add_next_tick_callback(lambda: _in_doc(doc, show, filename, outcome))

        threading.Thread(target=work, name="workbench-upload", daemon=True).start()

    pn.bind(on_upload, dropper, watch=True)
    return pn.Column(
        pn.pane.Markdown(f"### A CSV of products\nOne row per product with a `title` column (or "
                         f"`product_name` / `productDisplayName`), optionally `description` and `brand`; "
                         f"UTF-8, at most {ctx.settings.upload_limit_mb:g} MB and "
                         f"{ctx.settings.max_upload_rows:,} rows."),
        dropper, result, sizing_mode="stretch_width")


def model_options(state: ClassifyState) -> dict[str, str]:
    """``{label (run id): run id}`` of the runs with a saved model, newest first."""
    from workbench.runs.predictor import runs_with_models

    return {f"{data.run_label(rid, model_kind(rid))} ({rid})": rid for rid in runs_with_models(state.workspace)[::-1]}


def model_kind(run_id: str) -> str:
    """The model family in a run id (``20261207-060033-auto-fdcd79`` -> ``auto``)."""
    parts = str(run_id).split("-")
    return "-".join(parts[2:-1]) if len(parts) > 3 else str(run_id)


def view(ctx):
    """The classify page."""
    state = ClassifyState(workspace=ctx.workspace, news=ctx.news.param.runs)
    if not state.has_model:
        return empty_state("No run in this workspace has a saved model yet: train one first.", "workbench train")
    # the runs by the label every other page's picker uses (``auto · fdcd79 (RUN ID)``); new runs join
    model = pn.widgets.Select(name="Model (run)", options=pn.bind(lambda _: model_options(state), state.param.news),
                              value=state.run_id, width=420, css_classes=["wb-run"])
    model.link(state, value="run_id")
    rule = pn.widgets.RadioButtonGroup(options=RULE_LABELS, value=state.decision, css_classes=["wb-decision-rule"])
    rule.link(state, value="decision")
    rule_help = html(define("Decision rule: the most probable category, or the one with the least expected "
                            "tree distance (min-risk)."))
    note = pn.Column(objects=pn.bind(lambda *_: [alert(w.capitalize(), "warning")] if (w := state.threshold_warning())
                                     else [], state.param.run_id, ctx.news.param.published), sizing_mode="stretch_width")
    layout = pn.Column(
        intro(TITLE, HOW, "Top-5 categories from a trained model (by default the promoted serving run, else the "
                          "best run: highest validation accuracy, never one trained on a sample), and whether the "
                          "product would be shelved under the published thresholds."),
        model, rule, rule_help, note, pn.FlexBox(_single(state, ctx.settings.upload_limit_bytes), _upload(state, ctx), gap="1.5em",
                                sizing_mode="stretch_width"),
        sizing_mode="stretch_width", css_classes=["wb-page", "wb-classify-page"])
    layout.follows = True  # the choice of models and the thresholds' warning follow ctx.news
    return layout
