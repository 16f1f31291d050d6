"""Tests of workbench.catalog.text on real ugly titles from the fashion and Flipkart catalogs.

Expected outputs are derived by hand from the cleaning rule in ``clean_text``'s docstring.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.paths import data_home_candidates
from workbench.catalog.text import clean_series, clean_text, normalise_series, normalise_title


def _find(relative: str):
    for home in data_home_candidates():
        if (home / relative).exists():
            return home / relative
    return None


# (raw string copied verbatim from a catalog, expected clean_text output)
FLIPKART_TITLES = [
    ("BeYOUtiful Copper Repouss\ufffd\ufffd - Man With Dhol Showpiece  -  36 cm",
     "BeYOUtiful Copper Repouss - Man With Dhol Showpiece - 36 cm"),
    ("Prithish The Only Thing Better Than Having You For A Husband\u2026\u2026 Ceramic Mug",
     "Prithish The Only Thing Better Than Having You For A Husband Ceramic Mug"),
    ("JLRS Bumper Case for Acer\xa0Iconia W3-810|Acer\xa0Iconia W4-820",
     "JLRS Bumper Case for Acer Iconia W3-810 Acer Iconia W4-820"),
    ("BILLYS Cases with Holder for All 7 Inch Tab/Tablet 360\u00b0 Rotating",
     "BILLYS Cases with Holder for All 7 Inch Tab/Tablet 360 Rotating"),
    ("Jojo Book Cover for Samsung\xa0Galaxy Tab 2 P3110 (16Gb)",
     "Jojo Book Cover for Samsung Galaxy Tab 2 P3110 16Gb"),
    ("Saviour HPSAVTHB Saviour Tough Hat \u2013Blue Construction Helmet",
     "Saviour HPSAVTHB Saviour Tough Hat -Blue Construction Helmet"),
    ("\xa0Tarkan Unique Style-2016 Umbrella", "Tarkan Unique Style-2016 Umbrella"),
    ("Gemei Body Groomer Gm-729\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd Trimmer For Men",
     "Gemei Body Groomer Gm-729 Trimmer For Men"),
    ("Einf\u00fchrung in die Kernphysik", "Einf\u00fchrung in die Kernphysik"),
    ("KuberBox Sortil\u00e8ge Pearl Gold Diamond, Pearl 14K White Gold 14 K Ring",
     "KuberBox Sortil\u00e8ge Pearl Gold Diamond, Pearl 14K White Gold 14 K Ring"),
    # mojibake is not repaired: letters (Ã, Â) stay, symbols (¢, ®) become spaces
    ("Discovery Toys Marbleworks\u00c3\u00a2\u00c2\u00ae Marble Run Starter Set By",
     "Discovery Toys Marbleworks\u00c3 \u00c2 Marble Run Starter Set By"),
    ("Stanford League Special Cricket Ball -   Size: 5.1\\2,  Diameter: 1.5 cm",
     "Stanford League Special Cricket Ball - Size 5.1 2, Diameter 1.5 cm"),
    ("Livestrong Steel With Crome Platinum Pair Of 1kg (1kg X 2 =2kg ) Fixed Weight Dumbbell",
     "Livestrong Steel With Crome Platinum Pair Of 1kg 1kg X 2 2kg Fixed Weight Dumbbell"),
    ("@home Glass Vase", "home Glass Vase"),
    ("Cotab R2 \xa0360 Degree rotatable Ring stand holder for all smartphones , Tablets & iPhones "
     "Mobile Holder Mobile Holder",
     "Cotab R2 360 Degree rotatable Ring stand holder for all smartphones , Tablets & iPhones "
     "Mobile Holder Mobile Holder"),
]

FASHION_TITLES = [
    ("Scullers Men  Grey Waistcoat", "Scullers Men Grey Waistcoat"),
    ("U.S. Polo Assn. Men Stripes Black  Polo Tshirt", "U.S. Polo Assn. Men Stripes Black Polo Tshirt"),
    ("ADIDAS Men's Cr_Aess 3s Hsj Black White Short", "ADIDAS Men's Cr Aess 3s Hsj Black White Short"),
    ("Streetwear Ash Nail Polish # 31", "Streetwear Ash Nail Polish 31"),
    ('Nike Women\'s EM Tempo 3.5" Pink Short', 'Nike Women\'s EM Tempo 3.5" Pink Short'),
    ("Nike Men T90 Shoot I\\/ HG-B White Sports Shoe", "Nike Men T90 Shoot I / HG-B White Sports Shoe"),
    ("Reid & Taylor Men Formal Blue Tie+Cufflink+Pocket square - Combo Pack",
     "Reid & Taylor Men Formal Blue Tie+Cufflink+Pocket square - Combo Pack"),
    ("Hanes Women Pack of Three 100% Cotton Plain Bikini Briefs",
     "Hanes Women Pack of Three 100% Cotton Plain Bikini Briefs"),
    ("Bw!tch White Spirit Briefs", "Bw tch White Spirit Briefs"),
    ("Nike Fragrances Women Trendy Perfume 75ml", "Nike Fragrances Women Trendy Perfume 75ml"),
]

# fragments of real Flipkart descriptions
FLIPKART_DESCRIPTIONS = [
    ("TEN TEN Women's Black Knee Length Boots Boots\n                         Price: Rs. 1,995\n"
     "\t\t\t\t\n\t\t\tBoots\nBoots",
     "TEN TEN Women's Black Knee Length Boots Boots Price Rs. 1,995 Boots Boots"),
    ("Easy, comfortable and flexible to use\u2028Makes bath time less of a drama",
     "Easy, comfortable and flexible to use Makes bath time less of a drama"),
    ("Price: Rs. 22,646 \u2022 Fine deep seating experience \u2022 Save Space",
     "Price Rs. 22,646 Fine deep seating experience Save Space"),
    ("ComforDry\u2122 Sockliner :- Provides cushioning",
     "ComforDry Sockliner - Provides cushioning"),
    ("your baby\u2019s head", "your baby's head"),
]


@pytest.fixture(scope="module")
def catalogs():
    styles = _find("fashion/styles.csv")
    flip = _find("flipkart/flipkart_20k.csv")
    if styles is None or flip is None:
        pytest.skip("fashion/flipkart catalogs not found; set WORKBENCH_DATA_HOME")
    fashion = pd.read_csv(styles, usecols=["productDisplayName"], on_bad_lines="skip")
    flipkart = pd.read_csv(flip, usecols=["product_name", "description"])
    return fashion, flipkart


def test_test_strings_are_real_catalog_strings(catalogs):
    fashion, flipkart = catalogs
    names = set(fashion["productDisplayName"].dropna())
    for raw, _ in FASHION_TITLES:
        assert raw in names, raw
    products = set(flipkart["product_name"].dropna())
    for raw, _ in FLIPKART_TITLES:
        assert raw in products, raw
    descriptions = flipkart["description"].dropna()
    for raw, _ in FLIPKART_DESCRIPTIONS:
        assert descriptions.str.contains(raw, regex=False).any(), raw


@pytest.mark.parametrize("raw,expected", FLIPKART_TITLES + FASHION_TITLES + FLIPKART_DESCRIPTIONS)
def test_clean_text_real_strings(raw, expected):
    assert clean_text(raw) == expected


def test_clean_series_matches_clean_text_and_keeps_input(catalogs):
    fashion, flipkart = catalogs
    raw = pd.concat([fashion["productDisplayName"].head(300), flipkart["product_name"].head(300),
                     flipkart["description"].head(100),
                     pd.Series([r for r, _ in FLIPKART_TITLES + FASHION_TITLES]),
                     pd.Series([None, np.nan, "", "  "])], ignore_index=True)
    before = raw.copy()
    out = clean_series(raw)
    pd.testing.assert_series_equal(raw, before)          # the raw column is not mutated
    assert out.index.equals(raw.index)
    assert out.tolist() == [clean_text(v) for v in raw]
    assert out.iloc[-4:].tolist() == ["", "", "", ""]
    # the fast path is exercised: most fashion titles are already clean and come back identical
    assert (out.head(300) == raw.head(300)).mean() > 0.9


@pytest.mark.parametrize("text", ["500 ml", "Perfume 500ml", "32GB", "5.5 inch", "1.5L", '1/2"',
                                  "2-in-1", "Rs. 1,995", "100% Cotton", "Pack of 2 + 1", "3/4 Sleeve",
                                  "Men's", "A & B"])
def test_units_and_digits_survive(text):
    assert clean_text(text) == text
    assert clean_text(f"<b>{text}</b> \U0001F525") == text


def test_html_entities_emojis_controls():
    # the catalogs hold no HTML or emojis; these are the shapes scraped titles take
    assert clean_text("<p>Cotton&nbsp;Kurta</p><br/>&amp; Dupatta") == "Cotton Kurta & Dupatta"
    assert clean_text("&lt;b&gt;Bold&lt;/b&gt; Tee &amp;amp; Cap") == "Bold Tee & Cap"
    assert clean_text("Size < 5 years > 2") == "Size 5 years 2"
    assert clean_text("Party Dress \U0001F483\U0001F3FD\u2728 Red\u2764\ufe0f") == "Party Dress Red"
    assert clean_text("Sale\U0001F525\U0001F525Shoes") == "Sale Shoes"
    assert clean_text("Blue\x00Shirt\x07 XL\tSize\r\nM") == "BlueShirt XL Size M"
    assert clean_text("Zero\u200bwidth soft\u00adhyphen") == "Zerowidth softhyphen"
    assert clean_text("\u0939\u093f\u0928\u094d\u0926\u0940 \u0936\u0930\u094d\u091f \u2713") == \
        "\u0939\u093f\u0928\u094d\u0926\u0940 \u0936\u0930\u094d\u091f"   # Devanagari marks kept
    assert clean_text("\u8fd0\u52a8\u978b 42\u7801") == "\u8fd0\u52a8\u978b 42\u7801"


@pytest.mark.parametrize("missing", [None, np.nan, float("nan"), pd.NA])
def test_missing_gives_empty(missing):
    assert clean_text(missing) == ""
    assert normalise_title(missing) == ""


def test_normalise_groups_colour_variants():
    assert normalise_title("Nike Men Blue T-shirt") == normalise_title("Nike Men Red T-shirt") \
        == "nike men t shirt"
    # real fashion colour variants, incl. multi-word colours
    a = normalise_title("Scullers Men  Grey Waistcoat")
    assert a == normalise_title("Scullers Men Navy Blue Waistcoat") == "scullers men waistcoat"
    assert normalise_title("Puma Men Axis White & Grey Sports Shoes") == \
        normalise_title("Puma Men Axis Off White & Navy Blue Sports Shoes") == "puma men axis sports shoes"
    assert normalise_title("Levis Men Light Blue Jeans") == normalise_title("Levis Men Dark Green Jeans")
    assert normalise_title("Men's Tee") == normalise_title("Mens Tee")


def test_normalise_keeps_sizes_apart():
    assert normalise_title("SanDisk 32GB Pen Drive Black") != normalise_title("SanDisk 64GB Pen Drive Red")
    assert normalise_title("Nike Fragrances Women Spicy Love Perfume 150 ml") == \
        "nike fragrances women spicy love perfume 150 ml"
    assert normalise_title("Nike Women's EM Tempo 3.5\" Pink Short") == "nike womens em tempo 3.5 short"
    assert normalise_title("TV 5.5 inch") != normalise_title("TV 55 inch")
    # colour words inside other words are not touched
    assert normalise_title("Redtape Men Shoes") == "redtape men shoes"
    assert normalise_title("Goldstar Tan Sandals") == "goldstar sandals"


def test_normalise_series(catalogs):
    fashion, _ = catalogs
    raw = fashion["productDisplayName"].head(400)
    before = raw.copy()
    out = normalise_series(raw)
    pd.testing.assert_series_equal(raw, before)
    assert out.tolist() == [normalise_title(v) for v in raw]
    # grouping merges colour variants: fewer distinct keys than distinct titles
    assert out.nunique() < raw.nunique()
