"""The words, numbers and styles every page shares, checked without a browser: the glossary
(definitions on hover, the README's copy), one stylesheet for the whole app, short view
functions, tables that write shares and paths alike, empty states without raw Markdown, and a
monitoring page that raises no alarm before any traffic."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import pandas as pd

from workbench.app.glossary import GLOSSARY, JARGON, define, definition, term
from workbench.app.style import STYLESHEET
from workbench.app.widgets import empty_state_html, frame_html, header_min_px, short_path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "workbench" / "app"
#: the security modules another package takes over; they keep their own login page styles
NOT_PAGES = {"auth.py", "login.py", "upload.py", "throttle.py", "hardening.py", "safe_text.py"}


def test_every_jargon_term_has_a_definition_on_hover_and_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, text in GLOSSARY.items():
        assert f"| {name} | {text} |" in readme, name
    for name in JARGON:
        marked = define(f"read the {name} here")
        assert f"title='" in marked and f">{name}</span>" in marked, name
    assert definition("coverage @ 90%") == GLOSSARY["coverage @ 95%"]
    # a term inside a longer header gets its definition; text inside tags is left alone
    assert "wb-term" in term("mean tree distance") and "class='wb-term'" not in define("<a title='ECE'>x</a>")
    # a definition with a quote stays one attribute (escaped)
    assert "&#x27;" in term("ECE")


def test_the_app_keeps_its_css_in_one_stylesheet():
    offenders = []
    for path in APP.rglob("*.py"):
        if path.name in NOT_PAGES:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r'"""\s*\n[^"]*\{[^}"]*:[^}"]*;[^}"]*\}', text) or re.search(r"style=['\"](?!max-width:\{)", text):
            offenders.append(path.name)
    assert offenders == []
    assert ".wb-term" in STYLESHEET and ".tabulator-col-title" in STYLESHEET


def test_no_view_function_is_longer_than_60_lines():
    long = []
    for path in (APP / "pages").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert long == []


def test_pages_bind_views_instead_of_watch_callbacks():
    """Pages read like Panel's declarative examples: views bound to state with ``pn.bind`` /
    ``param.depends``; no ``.param.watch(`` callback grows back in the pages or the app's modules,
    and ``on_click`` stays only on tables, whose cell click is an event no parameter holds."""
    watches, clicks = [], []
    for path in sorted([*(APP / "pages").glob("*.py"), *APP.glob("*.py")]):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ".param.watch(" in line:
                watches.append(f"{path.name}:{number}")
            if re.search(r"\bon_click\b\s*[(=]", line):
                clicks.append(f"{path.name}:{number}: {line.strip()}")
    assert watches == []
    tables = ("leaves.on_click(", "overrides.on_click(", "top5.on_click(", "alternatives.on_click(",
              "tree.on_click(")
    assert [c for c in clicks if not any(t in c for t in tables)] == []
    assert len(clicks) <= len(tables)


def test_html_tables_write_shares_numbers_and_paths_alike():
    frame = pd.DataFrame({"category": ["Apparel > Topwear > Tshirts", "Footwear > Shoes"],
                          "accuracy": [0.91234, np.nan], "support": [1200, 3], "ECE": [0.0321, 0.5]})
    out = frame_html(frame, percent=["accuracy"], decimals=["ECE"])
    assert "91.2%" in out and "n/a" in out and "1,200" in out and "0.032" in out
    assert "e-" not in out  # never scientific notation
    assert "<td class='wb-num'>91.2%</td>" in out  # numbers right-aligned
    assert "title='Apparel &gt; Topwear &gt; Tshirts'>… &gt; Topwear &gt; Tshirts</span>" in out
    assert "<th class='wb-num'><span class='wb-term'" in out  # ECE defined on hover
    hostile = frame_html(pd.DataFrame({"title": ["<img src=x onerror=alert(1)>"]}))
    assert "<img" not in hostile and "&lt;img" in hostile
    assert short_path("A > B") == "<span class='wb-path' title='A &gt; B'>A &gt; B</span>"
    assert header_min_px("most_confused_sibling") == header_min_px("confused")  # wraps between words only


def test_text_columns_are_wide_enough_for_their_longest_word():
    """Flipkart's Categories table read 'not predicte / d' and 'Showpi / eces (3)': a text cell
    breaks only between words (up to a cap, so one URL cannot squeeze the other columns)."""
    from workbench.app.widgets import CELL_CHAR_PX, WORD_MAX_PX, column_options

    frame = pd.DataFrame({"threshold from": ["not predicted", "global (few products)"],
                          "most confused sibling": ["Showpieces (3)", "Bangles & Armlets (2)"],
                          "title": ["see https://example.com/a-very-long-address-without-spaces", "x"],
                          "F1": [0.5, 0.25]})
    columns = {c["field"]: c["minWidth"] for c in column_options(frame, {})["configuration"]["columns"]}
    assert columns["threshold from"] >= len("predicted") * CELL_CHAR_PX
    assert columns["most confused sibling"] >= len("Showpiece") * CELL_CHAR_PX
    assert columns["title"] == WORD_MAX_PX
    grow = {c["field"]: c.get("widthGrow", 1) for c in column_options(frame, {})["configuration"]["columns"]}
    assert grow["most confused sibling"] > grow["F1"]  # spare width goes to words, not to numbers
    # a category path takes more of the spare width than a number (it read 4-5 lines a row)
    paths = pd.DataFrame({"category": ["Home Decor & Festive Needs > Table Decor & Handicrafts"], "F1": [0.5]})
    grow = {c["field"]: c.get("widthGrow", 1) for c in column_options(paths, {})["configuration"]["columns"]}
    assert grow["category"] > grow["F1"]


def test_empty_states_are_a_sentence_and_a_command_without_markdown():
    out = empty_state_html("Nothing yet <b>here</b>.", ["workbench train", "workbench evaluate --all"])
    assert "**" not in out and "`" not in out and "&lt;b&gt;" in out
    assert "<code>workbench train</code>, then <code>workbench evaluate --all</code>" in out


def test_no_alarm_without_traffic():
    from datetime import datetime, timezone

    from workbench.app.pages.monitoring import headline_html, statistics_html
    from workbench.app.state.monitoring import MonitoringState
    from workbench.service.monitoring import MonitorReport, Statistic

    stats = [Statistic("volume", "predictions served", 0, 1, 0, status="crossed", direction="min"),
             Statistic("category_mix_psi:type", "category mix at type, PSI", None, 0.25, 0, status="too few",
                       detail="; judged from 150 predictions (3 per category)")]
    report = MonitorReport(None, datetime.now(timezone.utc), "r1", None, stats,
                           pd.DataFrame({"bucket": [], "predictions": []}))
    state = MonitoringState.__new__(MonitoringState)  # the frame needs no workspace
    frame = MonitoringState.statistics_frame(state, report)
    assert frame["status"].tolist() == ["too few", "too few"]
    assert frame["detail"].tolist()[1] == "judged from 150 predictions (3 per category)"  # no stray "; "
    html = statistics_html(frame) + headline_html(report, [])
    assert "wb-crossed" not in html and "not enough traffic yet" in html and "data-crossed='0'" in html
    assert "wb-alerts-quiet" in html and "Nothing was served in this period yet" in html


def test_the_explorer_says_where_its_threshold_comes_from_and_promotion_skips_sample_runs(evaluated_ws, tmp_path):
    from tests._dashboard_setup import copy_workspace
    from workbench import Workspace
    from workbench.app.state.monitoring import MonitoringState
    from workbench.app.state.thresholds import ThresholdState
    from workbench.loop.thresholds import publish_thresholds
    from workbench.runs.records import list_runs
    from workbench.runs.training import train_models

    ws = Workspace(copy_workspace(evaluated_ws, tmp_path / "ws", artifacts=True))
    full = list_runs(ws).loc[lambda r: r["sample"].isna(), "run_id"].iloc[-1]
    newest = train_models(ws, ["tfidf"], "grouped", sample=300, seed=3)[0]  # newest, trained on a sample
    state = MonitoringState(workspace=ws)
    assert state.runs_with_models()[0] == newest and state.promote_run == full

    explorer = ThresholdState(workspace=ws)
    stored = explorer.run_metrics()["threshold_at"]["0.95"]
    assert explorer.threshold == pytest.approx(round(stored, 3))
    assert explorer.opened_at.startswith(f"Opened at {explorer.threshold:.3f}, the recommended threshold")
    assert "95% of those shelved are right" in explorer.opened_at
    publish_thresholds(ws, 0.8, by="lead", run_id=explorer.run_id)
    assert ThresholdState(workspace=ws).opened_at.startswith("Opened at the published threshold 0.800")


def test_placeholders_show_this_catalogs_own_examples(sample_workspace):
    """A Tokopedia workspace's Classify page read 'e.g. Nike Men Blue Running Shoes' and its
    Taxonomy page 'e.g. Apparel > Topwear': the examples come from the catalog on screen, never
    from a title carrying markup or a formula."""
    from workbench.app.data import example_path, example_title, taxonomy

    ws = sample_workspace("placeholders_tokopedia", 300, dataset="tokopedia")
    title, path = example_title(ws), example_path(ws)
    assert title in set(ws.df("SELECT title FROM products")["title"]) and "Nike" not in title
    assert path.count(" > ") == 1 and path.split(" > ")[0] in taxonomy(ws).roots
    leaf = taxonomy(ws).leaves[0]
    with ws.transaction() as cur:  # two hostile labelled products whose ids sort before every other
        for pid, t in [("!1", "<img src=x onerror=alert(1)>Kabel USB type C fast charging"),
                       ("!2", '=HYPERLINK("http://x","y") Earphone bluetooth')]:
            cur.execute("INSERT INTO products (product_id, title, leaf) VALUES (?, ?, ?)", [pid, t, leaf])
    assert "<" not in example_title(ws) and not example_title(ws).startswith("=")


def test_the_classify_picker_labels_runs_as_every_other_picker():
    """Classify listed bare run ids while every other page read ``auto · fdcd79 (RUN ID)``."""
    from workbench.app.pages.classify import model_kind

    assert model_kind("20261207-060033-auto-fdcd79") == "auto"
    assert model_kind("20261207-060033-cnn-lstm-0a1b2c") == "cnn-lstm"
