"""Live accuracy: the model's accuracy on new arrivals over time, estimated from reviews of the
daily random sample only, with its confidence interval."""

from __future__ import annotations

import math

import panel as pn

from workbench.app.widgets import empty_state, empty_state_html, following_page, html, intro, pct, table
from workbench.loop.live_accuracy import live_accuracy, live_accuracy_overall
from workbench.loop.review_budget import budget_text, review_budget
from workbench.plots.live_accuracy import live_accuracy_plot

TITLE = "Live accuracy"
ORDER = 80
CONFIDENCE = 0.95
HOW = ("the line is the share of reviewed random-sample products the model got right, per day, with its 95% "
       "interval (the band narrows as more products are reviewed).")


def headline(overall: dict) -> str:
    """The overall estimate in words (carrying exact figures in ``data-*`` for tests)."""
    if not overall["n"]:
        return empty_state_html("No random-sample reviews yet: build a queue and review its random items on the "
                                "Review queue page.", "workbench queue build", "wb-live-none")
    shelved = ("" if math.isnan(overall["shelved_accuracy"]) else
               f" Among sampled products that were shelved automatically: "
               f"{pct(overall['shelved_accuracy'], 1)} of {overall['n_shelved']}.")
    return (f"<p class='wb-live' data-accuracy='{overall['accuracy']}' data-low='{overall['low']}' "
            f"data-high='{overall['high']}' data-n='{overall['n']}'><b>{pct(overall['accuracy'], 1)}</b> "
            f"[{pct(overall['low'], 1)}, {pct(overall['high'], 1)}] from {overall['n']} random-sample "
            f"reviews ({CONFIDENCE:.0%} Wilson interval).{shelved}</p>")


def budget_html(budget: dict) -> str:
    """The review budget (:mod:`workbench.loop.review_budget`), with its figures in ``data-*``."""
    return (f"<p class='wb-review-budget' data-reviews-needed='{budget['reviews_needed']}' "
            f"data-queue-per-week='{budget['queue_per_week']}'>{budget_text(budget)}</p>")


def view(ctx):
    """The live accuracy page; it is read again after every write (a review elsewhere moves it)."""
    return following_page(ctx, content, "wb-live-accuracy")


def content(ctx) -> list:
    """The page's parts, read from the workspace now."""
    daily = live_accuracy(ctx.workspace, confidence=CONFIDENCE)
    overall = live_accuracy_overall(ctx.workspace, confidence=CONFIDENCE)
    body = [intro(TITLE, HOW, "Only reviews of the random daily sample count: the uncertain and disagreement "
                              "items are picked because the model is likely wrong, so they would bias the figure."),
            html(headline(overall)),
            html(budget_html(review_budget(ctx.workspace, confidence=CONFIDENCE)))]
    if len(daily):
        body.append(pn.pane.HoloViews(live_accuracy_plot(daily, confidence=CONFIDENCE)))
        body.append(table(daily[["queue_date", "n", "correct", "accuracy", "low", "high",
                                 "n_shelved", "shelved_accuracy"]],
                          percent=("accuracy", "low", "high", "shelved_accuracy"), css_classes=["wb-live-table"]))
    else:
        body.append(empty_state("Nothing measured yet: the chart and the table fill as reviewers work through "
                                "the random sample of a queue.", "workbench queue build"))
    return body
