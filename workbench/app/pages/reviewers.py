"""Reviewers: each reviewer's accuracy on gold items, rubber-stamping flags, and agreement between
reviewers on double-reviewed products (:mod:`workbench.loop.reviewer_quality`)."""

from __future__ import annotations

import math

import pandas as pd
import panel as pn

from workbench.security.safe_text import escape_html
from workbench.app.widgets import alert, following_page, table
from workbench.loop.gold import gold_items, gold_share
from workbench.loop.reviewer_quality import agreement_report, reviewer_report

TITLE = "Reviewers"
ORDER = 75


def reviewers_frame(report: pd.DataFrame) -> pd.DataFrame:
    """The per-reviewer table as shown: flags in words."""
    frame = report.copy()
    frame["flags"] = frame["flags"].map(lambda f: "; ".join(f))
    return frame[["reviewer", "reviews", "gold", "gold_accuracy", "gold_low", "gold_high", "wrong_suggestions",
                  "accepted_wrong", "flags"]]


def agreement_html(agreement: dict) -> str:
    """Double-reviewed share and Krippendorff's alpha in words."""
    if not agreement["double_reviewed"]:
        return ("<p class='wb-agreement-none'>No product was reviewed by two reviewers yet: send a reviewer's "
                "decisions to a second review (<code>workbench reviewers --second-review NAME</code>).</p>")
    alpha = agreement["alpha"]
    by = ", ".join(f"{escape_html(c)} {'n/a' if math.isnan(a) else f'{a:.2f}'}"
                   for c, a in agreement["alpha_by_category"].items())
    return (f"<p class='wb-agreement' data-alpha='{alpha}'>{agreement['double_reviewed']:,} products reviewed "
            f"twice ({agreement['share']:.1%} of reviewed products); Krippendorff's alpha "
            f"<b>{'n/a' if math.isnan(alpha) else f'{alpha:.3f}'}</b>; by category: {by}. "
            f"{len(agreement['disagreements']):,} disagreements wait for a third reviewer.</p>")


def view(ctx):
    """The reviewers page; it is read again after every write (a review elsewhere moves it)."""
    return following_page(ctx, content, "wb-reviewers")


def content(ctx) -> list:
    """The page's parts, read from the workspace now."""
    report = reviewer_report(ctx.workspace)
    agreement = agreement_report(ctx.workspace)
    body = [pn.pane.Markdown(f"## {TITLE}\nGold items (labels an admin verified, two reviewers confirmed, or "
                             f"imported) are mixed unmarked into each reviewer's queue ({gold_share(ctx.workspace):.0%}"
                             f" of the items; {len(gold_items(ctx.workspace)):,} gold items). A reviewer is flagged "
                             "when their gold accuracy is low, or when they accept the model's suggestion on gold "
                             "items the model gets wrong (rubber-stamping).")]
    if report.empty:
        body.append(alert("No reviews yet.", "info"))
    else:
        flagged = report[report["flagged"]]
        for row in flagged.to_dict("records"):
            body.append(alert(f"{row['reviewer']}: {'; '.join(row['flags'])}. Send their recent decisions to a "
                              f"second review: workbench reviewers --second-review {row['reviewer']} --by YOU",
                              "warning"))
        body.append(table(reviewers_frame(report), percent=("gold_accuracy", "gold_low", "gold_high"),
                          css_classes=["wb-reviewers-table"]))
    body.append(pn.pane.HTML(agreement_html(agreement), sizing_mode="stretch_width"))
    if len(agreement["pairs"]):
        body.append(table(agreement["pairs"], percent=("agree",), decimals=("kappa",),
                          css_classes=["wb-agreement-table"]))
    return body
