"""Prices the way shops write them: ``₹1,099``, ``£3.42``, ``1.099,50 €``, ``1 099,50``,
``$1,299.00``, ``Rp 15.000``, ``USD 12``, ``£3.42 - £5.00`` (a range: the lower bound), ``free``.

A price is optional: one that cannot be used becomes empty with a warning (``price not
understood: "call us"``, ``price is negative: "-5"``, ``price is not finite: "1e309"``), never a
reject. The currency, where the text gives one, is kept as an ISO 4217 code.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pandas as pd

#: symbols and words before or after the number, with the currency they stand for
SYMBOLS = {
    "us$": "USD", "a$": "AUD", "au$": "AUD", "c$": "CAD", "ca$": "CAD", "nz$": "NZD", "hk$": "HKD",
    "s$": "SGD", "r$": "BRL", "mx$": "MXN", "$": "USD", "£": "GBP", "€": "EUR", "₹": "INR", "rs.": "INR",
    "rs": "INR", "inr": "INR", "¥": "JPY", "円": "JPY", "元": "CNY", "rmb": "CNY", "rp.": "IDR", "rp": "IDR",
    "₩": "KRW", "₽": "RUB", "₺": "TRY", "฿": "THB", "₫": "VND", "₱": "PHP", "₦": "NGN", "₪": "ILS",
    "rm": "MYR", "zł": "PLN", "kč": "CZK", "chf": "CHF", "fr.": "CHF", "kr.": "SEK", "kr": "SEK",
    "lei": "RON", "ft": "HUF", "r": "ZAR",
}
#: ISO 4217 codes understood as written (``GBP 3.42``, ``12,50 EUR``)
CODES = frozenset("""USD EUR GBP INR IDR JPY CNY AUD CAD NZD HKD SGD BRL MXN KRW RUB TRY THB VND PHP NGN
ILS MYR PLN CZK CHF SEK NOK DKK RON HUF ZAR AED SAR EGP PKR BDT LKR TWD ARS CLP COP PEN UAH KES""".split())
FREE = frozenset({"free", "gratis", "gratuit", "kostenlos", "gratuito", "0", "free!"})
#: currencies whose shops group thousands with "." (``Rp 15.000`` is fifteen thousand)
DOT_GROUPING = frozenset({"IDR", "VND", "CLP", "COP", "ARS"})
#: currencies whose shops group thousands with "," (``₹1,099`` is 1099 even in a column of euros)
COMMA_GROUPING = frozenset({"INR", "USD", "GBP", "JPY", "CNY", "AUD", "CAD", "NZD", "HKD", "SGD", "MYR", "PHP",
                            "THB", "KRW", "PKR", "BDT", "LKR", "NGN", "ILS", "TWD", "MXN", "AED", "SAR"})

_SPACES = "\u00a0\u202f\u2009\u2007 '’"
_SYMBOL_RE = re.compile("|".join(
    [rf"(?<![a-z]){c}(?![a-z])" for c in sorted(CODES)]
    + [re.escape(s) if not s[0].isalpha() else rf"(?<![a-z]){re.escape(s)}(?![a-z])"
       for s in sorted(SYMBOLS, key=len, reverse=True)]), re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?\d[\d.,\u00a0\u202f\u2009\u2007 '’]*(?:[eE][+-]?\d+)?|[+-]?[.,]\d+")
_RANGE = re.compile(r"\s*(?:-|–|—|~|\bto\b|\bbis\b|\bà\b|\bsampai\b|\bs/d\b)\s*", re.IGNORECASE)
_PLAIN = re.compile(r"^\d+(?:\.\d+)?$")
#: a label a shop writes before its price (``MRP ₹999``, ``Price: 12 EUR``, ``Harga: Rp 15.000``)
_LABEL = re.compile(r"^(?:mrp|price|sale price|offer price|our price|preis|prix|precio|prezzo|harga|prijs)"
                    r"\s*[:.]?\s*(?=\S)", re.IGNORECASE)
_SPECIAL = re.compile(r"^[+-]?(?:inf|infinity|nan)$", re.IGNORECASE)


def _number(text: str, decimal: str | None, currency: str | None) -> float | None:
    """The value of one number written with grouping and a decimal mark, or ``None``."""
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    text = re.sub(r"[.,]-$", "", text)                # "12,-" is 12
    for ch in _SPACES:
        text = re.sub(rf"(?<=\d){re.escape(ch)}(?=\d{{3}}(?:\D|$))", "", text)
    if not text or re.search(r"[^\d.,eE+-]", text):
        return None
    if "e" in text.lower():
        try:
            return sign * float(text)
        except ValueError:
            return None
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        mark = "." if text.rfind(".") > text.rfind(",") else ","
    elif dots + commas == 0:
        mark = None
    else:
        sep = "." if dots else ","
        head, _, tail = text.rpartition(sep)
        if dots + commas > 1:
            mark = None  # 1,099,000 or 1.099.000: grouping only
        elif len(tail) == 3 and head and head != "0":
            # ambiguous "1,099" / "1.099": grouping unless the column or currency says otherwise
            if sep == ",":
                mark = "," if decimal == "," and currency not in COMMA_GROUPING else None
            else:
                mark = None if (decimal == "," or currency in DOT_GROUPING) else "."
        else:
            mark = sep
    group = {".", ","} - {mark}
    for g in group:
        text = text.replace(g, "")
    if mark == ",":
        text = text.replace(",", ".")
    try:
        return sign * float(text)
    except ValueError:
        return None


def decimal_mark(values) -> str | None:
    """The decimal mark a column of prices uses (``"."`` or ``","``) from its unambiguous values,
    ``None`` when none tells (``"1.099,50"`` and ``"12,50"`` vote ``","``; ``"3.42"`` votes ``"."``)."""
    votes: Counter = Counter()
    for value in values:
        for number in _NUMBER.findall(str(value)):
            number = number.strip(_SPACES + "+-")
            if "." in number and "," in number:
                votes["." if number.rfind(".") > number.rfind(",") else ","] += 1
            else:
                m = re.search(r"^\d+([.,])(\d{1,2})$", number)
                if m:
                    votes[m.group(1)] += 1
    return votes.most_common(1)[0][0] if votes else None


def parse_price(text, decimal: str | None = None) -> tuple[float | None, str | None, str | None]:
    """``(value, currency, warning)`` of one price text; value ``None`` with a warning when it
    cannot be used, and ``(None, None, None)`` for an empty one."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None, None, None
    raw = str(text).strip()
    if not raw:
        return None, None, None
    shown = raw if len(raw) <= 60 else raw[:57] + "..."
    if len(raw) > 40:  # no price takes a sentence
        return None, None, f'price not understood: "{shown}"'
    if raw.lower() in FREE:
        return 0.0, None, None
    if _SPECIAL.match(raw):
        return None, None, f'price is not finite: "{shown}"'
    raw = _LABEL.sub("", raw)  # "MRP ₹999", "Price: Rs. 999"
    currency = None
    found = _SYMBOL_RE.findall(raw)
    if found:
        key = found[0].lower()
        currency = SYMBOLS.get(key, key.upper() if key.upper() in CODES else None)
    rest = re.sub(r"\s*/-\s*$", "", _SYMBOL_RE.sub(" ", raw)).strip()  # India's "Rs.1299/-" ("only")
    negative = rest.startswith("-")
    parts = [p for p in _RANGE.split(rest.lstrip("+-").strip()) if p.strip()]
    if len(parts) == 1:
        value = _number(("-" if negative else "") + parts[0], decimal, currency)
    elif len(parts) == 2 and not negative:
        low, high = (_number(p, decimal, currency) for p in parts)
        value = None if low is None or high is None else min(low, high)  # a range: the lower bound
    elif len(parts) == 2:
        return None, None, f'price is negative: "{shown}"'
    else:
        value = None
    if value is None:
        return None, None, f'price not understood: "{shown}"'
    if not math.isfinite(value):
        return None, None, f'price is not finite: "{shown}"'
    if value < 0:
        return None, None, f'price is negative: "{shown}"'
    return value, currency, None


def parse_prices(values: pd.Series) -> pd.DataFrame:
    """Vectorised :func:`parse_price` (plain numbers at once, the rest once per distinct value,
    with the column's decimal mark): a frame of ``price``, ``price_currency``, ``warning``."""
    values = pd.Series(values, copy=False)
    n = len(values)
    price = np.full(n, np.nan)
    currency = np.full(n, None, dtype=object)
    warning = np.full(n, None, dtype=object)
    present = values.notna().to_numpy()
    if not present.any():
        return pd.DataFrame({"price": price, "price_currency": currency, "warning": warning}, index=values.index)
    text = values[present].astype(str).str.strip()
    plain = text.str.fullmatch(_PLAIN.pattern).to_numpy(dtype=bool).copy()
    uniques = pd.unique(text[~plain].to_numpy())
    decimal = decimal_mark(uniques) if len(uniques) else None
    if decimal == ",":
        plain = plain & ~text.str.fullmatch(r"\d{1,3}\.\d{3}").to_numpy(dtype=bool)
        uniques = pd.unique(text[~plain].to_numpy())
    idx = np.flatnonzero(present)
    price[idx[plain]] = pd.to_numeric(text[plain]).to_numpy(dtype=float)
    if len(uniques):
        parsed = {u: parse_price(u, decimal) for u in uniques}
        rest = text[~plain]
        price[idx[~plain]] = [np.nan if parsed[t][0] is None else parsed[t][0] for t in rest]
        currency[idx[~plain]] = [parsed[t][1] for t in rest]
        warning[idx[~plain]] = [parsed[t][2] for t in rest]
    return pd.DataFrame({"price": price, "price_currency": currency, "warning": warning}, index=values.index)
