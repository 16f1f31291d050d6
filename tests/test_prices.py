"""Prices the way shops write them: parsed, with their currency; what cannot be used is emptied
with a warning and never costs a product."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from workbench import ColumnMapping, Workspace, ingest_file
from workbench.catalog.datasets import locate
from workbench.catalog.info import workspace_info
from workbench.catalog.prices import decimal_mark, parse_price, parse_prices


@pytest.mark.parametrize("text, value, currency", [
    ("£3.42", 3.42, "GBP"), ("₹1,099", 1099.0, "INR"), ("1.099,50 €", 1099.5, "EUR"), ("€ 12,50", 12.5, "EUR"),
    ("$1,299.00", 1299.0, "USD"), ("1 099,50", 1099.5, None), ("1\u00a0099,50 €", 1099.5, "EUR"),
    ("£3.42 - £5.00", 3.42, "GBP"), ("3.42–5.00", 3.42, None), ("5 to 10", 5.0, None),
    ("Rp 15.000", 15000.0, "IDR"), ("Rp1.250.000", 1250000.0, "IDR"), ("Rs. 899", 899.0, "INR"),
    ("USD 12", 12.0, "USD"), ("12 EUR", 12.0, "EUR"), ("GBP3.42", 3.42, "GBP"), ("¥1200", 1200.0, "JPY"),
    ("12,50", 12.5, None), ("12,-", 12.0, None), ("1,099,000", 1099000.0, None), ("499", 499.0, None),
    ("free", 0.0, None), ("FREE", 0.0, None), ("1'099.50 CHF", 1099.5, "CHF"),
])
def test_shop_prices_parse(text, value, currency):
    got, cur, warning = parse_price(text)
    assert warning is None and got == pytest.approx(value) and cur == currency


@pytest.mark.parametrize("text, kind", [
    ("call us", "price not understood"), ("N/A", "price not understood"), ("1e309", "price is not finite"),
    ("inf", "price is not finite"), ("-Infinity", "price is not finite"), ("nan", "price is not finite"),
    ("-5", "price is negative"), ("-£3.42", "price is negative"),
])
def test_unusable_prices_are_empty_with_a_warning(text, kind):
    value, currency, warning = parse_price(text)
    assert value is None and currency is None
    assert warning == f'{kind}: "{text}"'


def test_a_column_decides_its_decimal_mark():
    assert decimal_mark(["1.099,50", "12,50", "7"]) == ","
    assert decimal_mark(["3.42", "1,299.00"]) == "."
    european = parse_prices(pd.Series(["1.099", "12,50", None, "100"]))
    assert european["price"].tolist()[:2] == [1099.0, 12.5] and math.isnan(european["price"][2])
    english = parse_prices(pd.Series(["1.099", "3.42", "100"]))
    assert english["price"].tolist() == [1.099, 3.42, 100.0]
    assert parse_prices(pd.Series(["1e309", "-5", "4"]))["warning"].notna().tolist() == [True, True, False]


def test_good_products_with_any_price_are_accepted(tmp_path):
    """The issue's "Done when": a good title and category with £3.42, ₹1,099, 1.099,50 € or
    call us is accepted with 3.42, 1099, 1099.5 or empty (and one warning)."""
    real = pd.read_csv(locate("fashion/styles.csv"), dtype=str, keep_default_na=False).sample(4, random_state=3)
    real["price"] = ["£3.42", "₹1,099", "1.099,50 €", "call us"]
    path = tmp_path / "prices.csv"
    real.to_csv(path, index=False)
    ws = Workspace(tmp_path / "ws")
    summary = ingest_file(ws, path, ColumnMapping(id="id", title="productDisplayName", price="price",
                                                  levels=["masterCategory", "subCategory", "articleType"]))
    assert (summary.accepted, summary.rejected, summary.warnings) == (4, 0, 1)
    assert summary.warning_reasons == {"price not understood": 1}
    assert 'warning 1: price not understood (field emptied, product kept), e.g. "call us"' in str(summary)
    got = ws.df("SELECT product_id, price, price_currency FROM products").set_index("product_id")
    prices = got.loc[real["id"], "price"].tolist()
    assert prices[:3] == [3.42, 1099.0, 1099.5] and math.isnan(prices[3])
    assert got.loc[real["id"], "price_currency"].tolist()[:3] == ["GBP", "INR", "EUR"]
    info = workspace_info(ws)
    assert info["warnings"] == 1 and info["warning_reasons"] == {"price not understood": 1}
    warning = ws.df("SELECT * FROM warnings").iloc[0]
    assert warning["product_id"] == real["id"].iloc[3] and warning["reason"] == 'price not understood: "call us"'
