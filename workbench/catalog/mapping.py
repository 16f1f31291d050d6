"""Column mappings: which column of a catalog file holds which product field, and the
built-in recipes for the real catalogs."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field

from workbench.errors import WorkbenchError

FIELDS = ("id", "title", "description", "brand", "price", "category", "image", "department")


@dataclass
class ColumnMapping:
    """Catalog columns for each field; ``levels`` (several columns, top level first) replaces
    ``category`` (one path column split on ``sep``). Only ``title`` is required."""

    title: str
    id: str | None = None
    description: str | None = None
    brand: str | None = None
    price: str | None = None
    category: str | None = None
    sep: str = ">"
    levels: list[str] = field(default_factory=list)
    image: str | None = None
    department: str | None = None

    @classmethod
    def parse(cls, text: str, sep: str = ">") -> "ColumnMapping":
        """Parse ``"title=productDisplayName,category=path"`` (``levels=a|b|c`` for level columns)."""
        values: dict[str, object] = {"sep": sep}
        for item in filter(None, (p.strip() for p in text.split(","))):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not value.strip():
                raise WorkbenchError(f"bad mapping item {item!r}; write field=column, e.g. title=name")
            if key == "levels":
                values["levels"] = [v.strip() for v in value.split("|") if v.strip()]
            elif key in FIELDS:
                values[key] = value.strip()
            else:
                raise WorkbenchError(f"unknown field {key!r} in --map; fields are {', '.join(FIELDS)}, levels")
        if "title" not in values:
            raise WorkbenchError("--map needs title=COLUMN (the product name column)")
        return cls(**values)  # type: ignore[arg-type]

    def columns(self) -> dict[str, str]:
        """Field -> source column for every mapped field (level columns as ``level_1``...)."""
        cols = {k: v for k, v in asdict(self).items() if k in FIELDS and v}
        for i, col in enumerate(self.levels, 1):
            cols[f"level_{i}"] = col
        return cols

    def check(self, available: list[str]) -> None:
        """Fail with the available columns and the closest match when a mapped column is missing."""
        missing = [(f, c) for f, c in self.columns().items() if c not in available]
        if missing:
            hints = [f"did you mean {m}?" for m in (closest_column(c, available) for _, c in missing) if m]
            shown = ", ".join(available[:60]) + (f", ... ({len(available):,} in all)" if len(available) > 60 else "")
            raise WorkbenchError(
                f"mapped column(s) {', '.join(f'{f}={c}' for f, c in missing)} not in the file"
                + (f" ({' '.join(hints)})" if hints else "") + f"; available columns: {shown}"
                + _delimiter_hint(available))
        if self.category and self.levels:
            raise WorkbenchError("map either category=PATH_COLUMN or levels=A|B|C, not both")


def _squash(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def closest_column(name: str, available: list[str]) -> str | None:
    """The column of ``available`` closest to ``name`` (case, spaces and punctuation ignored,
    then by spelling), or ``None`` when none is close."""
    squashed = {_squash(c): c for c in available}
    if _squash(name) in squashed:
        return squashed[_squash(name)]
    contains = [c for c in available if _squash(name) and (_squash(name) in _squash(c) or _squash(c) in _squash(name))
                and min(len(_squash(c)), len(_squash(name))) >= 3]
    if len(contains) == 1:
        return contains[0]
    close = difflib.get_close_matches(_squash(name), list(squashed), n=1, cutoff=0.6)
    return squashed[close[0]] if close else None


def _delimiter_hint(available: list[str]) -> str:
    """When the file was read as one column holding a delimiter, say which delimiter to pass."""
    if len(available) != 1:
        return ""
    for delim, shown in ((";", "';'"), ("\t", "tab"), ("|", "'|'"), (",", "','")):
        if delim in available[0]:
            return f"; the file was read as one column: its delimiter may be {shown} (pass --delimiter)"
    return ""


@dataclass
class Recipe:
    """How to ingest a built-in catalog: its file, mapping and taxonomy options."""

    dataset: str
    relpath: str
    mapping: ColumnMapping
    max_depth: int | None = None
    min_count: int = 1
    #: the built-ins keep "parent" (a top-level "Other" pool on Flipkart) so their labels stay as
    #: published; a user's file gets "family" (catalog_taxonomy.merge_rare)
    merge: str = "parent"
    strip_name_node: bool = False
    image_template: str | None = None  # relative to the catalog's photo folder (datasets.image_dir)
    level_names: list[str] | None = None


RECIPES: dict[str, Recipe] = {
    "fashion": Recipe(
        "fashion", "fashion/styles.csv",
        ColumnMapping(id="id", title="productDisplayName",
                      levels=["masterCategory", "subCategory", "articleType"], department="gender"),
        image_template="{id}.jpg",
    ),
    "flipkart": Recipe(
        "flipkart", "flipkart/flipkart_20k.csv",
        ColumnMapping(id="uniq_id", title="product_name", description="description", brand="brand",
                      price="retail_price", category="category_path", sep=">>", image="image_file"),
        max_depth=3, min_count=10, strip_name_node=True,
    ),
    "flipkart-1050": Recipe(
        "flipkart", "flipkart/flipkart_1050.csv",
        ColumnMapping(id="uniq_id", title="product_name", description="description", brand="brand",
                      price="retail_price", category="product_category_tree", sep=">>", image="image"),
        max_depth=3, min_count=5, strip_name_node=True,
    ),
    # Indonesian titles, no id column (ids are generated), the full path in ``leaf``
    "tokopedia": Recipe(
        "tokopedia", "tokopedia/tokopedia_16k.csv",
        ColumnMapping(title="nama", category="leaf", sep=">"),
    ),
}


def recipe(name: str) -> Recipe:
    """A built-in recipe by dataset name."""
    try:
        return RECIPES[name]
    except KeyError:
        raise WorkbenchError(f"unknown dataset {name!r}; built-in: {', '.join(RECIPES)}") from None
