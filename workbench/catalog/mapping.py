"""Column mappings: which column of a catalog file holds which product field, and the
built-in recipes for the real catalogs."""

from __future__ import annotations

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
        """Fail with the list of available columns when a mapped column is missing."""
        missing = [f"{f}={c}" for f, c in self.columns().items() if c not in available]
        if missing:
            raise WorkbenchError(
                f"mapped column(s) {', '.join(missing)} not in the file; available columns: "
                f"{', '.join(available)}")
        if self.category and self.levels:
            raise WorkbenchError("map either category=PATH_COLUMN or levels=A|B|C, not both")


@dataclass
class Recipe:
    """How to ingest a built-in catalog: its file, mapping and taxonomy options."""

    dataset: str
    relpath: str
    mapping: ColumnMapping
    max_depth: int | None = None
    min_count: int = 1
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
