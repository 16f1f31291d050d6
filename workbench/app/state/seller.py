"""State of the seller's page: a seller's product (title, description, brand, photo) or a CSV of
products in, the top five categories of the one predictor (:class:`workbench.runs.predictor.Predictor`,
the run :func:`workbench.runs.selection.default_run` names) out; the seller picks one, searches the
taxonomy or says none fits, and the answer ("was the first suggestion right?") is stored as
feedback with the seller's name (:func:`workbench.loop.feedback.record_seller_feedback`): apart
from the catalog, never trained on until a reviewer confirms it. No Panel here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import param

from workbench.errors import WorkbenchError
from workbench.loop.feedback import record_seller_feedback
from workbench.runs.predictor import Predictor
from workbench.runs.selection import default_run
from workbench.security.roles import person_can
from workbench.security.upload import TITLE_COLUMNS, read_upload
from workbench.store import Workspace

TOP_K = 5
#: the choice that says no category of the taxonomy fits
NONE_FITS = "(none fits)"


class SellerState(param.Parameterized):
    """One seller's session: the product typed in, its suggestions and the seller's choice; the
    bulk table of an uploaded CSV with each row's choice."""

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    seller = param.String(default="local", doc="the seller's name, stored with every answer")
    authorize = param.Callable(default=None, doc="called before every write; raises PermissionDenied "
                               "when the session may no longer sell (default: ``role`` must hold ``sell``)")
    role = param.String(default="seller")
    title = param.String(default="", label="Title")
    description = param.String(default="", label="Description")
    brand = param.String(default="", label="Brand")
    photo = param.Bytes(default=None, doc="the checked photo (type, size, pixels)")
    suggestions = param.DataFrame(default=None, allow_None=True,
                                  doc="rank, category, probability of the product on screen")
    choice = param.String(default="", doc="the leaf the seller picked, or NONE_FITS")
    bulk = param.DataFrame(default=None, allow_None=True, doc="one row per uploaded product with its choice")
    message = param.String(default="")
    message_kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"])
    classify = param.Event(label="Suggest categories")
    submit = param.Event(label="Send my answer")
    submit_bulk = param.Event(label="Submit every row")
    row = param.Integer(default=1, bounds=(1, None), label="Row", doc="the bulk row to change (1-based)")
    new_choice = param.String(default="", doc="the leaf (or NONE_FITS) the bulk row changes to")
    change_row = param.Event(label="Change this row's choice")

    def __init__(self, **params):
        super().__init__(**params)
        self._predictor: Predictor | None = None
        self._proba: np.ndarray | None = None
        self._bulk_proba: np.ndarray | None = None

    # reading -------------------------------------------------------------------------------
    def predictor(self) -> Predictor:
        """The predictor of the run that answers by default (the one road)."""
        if self._predictor is None:
            self._predictor = Predictor.for_run(self.workspace, default_run(self.workspace))
        return self._predictor

    def leaves(self) -> list[str]:
        """Every leaf the model may answer, as its full path (the search box's options)."""
        return sorted(map(str, self.predictor().classes))

    def search_options(self) -> dict[str, str]:
        """The category search's options: every leaf, and the choice that none fits."""
        return {NONE_FITS: NONE_FITS, **{leaf: leaf for leaf in self.leaves()}}

    def set_photo(self, content: bytes | None, *, limit_bytes: int) -> None:
        """Check an uploaded photo (type, size, pixels) like every upload; a bad one raises
        :class:`WorkbenchError` with the reason and the fix and is dropped."""
        from workbench.embeddings.image_files import check_image_upload

        self.photo = None
        if content:
            check_image_upload(bytes(content), max_bytes=limit_bytes)
            self.photo = bytes(content)

    def _check(self) -> None:
        if self.authorize is not None:
            self.authorize()
        else:
            from workbench.security.auth import require

            require(self.role, "sell", self.seller)

    def _say(self, message: str, kind: str = "info") -> None:
        self.message_kind = kind
        self.message = message

    def _score(self, products: list[dict] | pd.DataFrame) -> np.ndarray:
        predictor = self.predictor()
        return predictor.score(predictor.frame(products))

    def chosen_proba(self, proba: np.ndarray, leaf: str | None) -> float | None:
        """The model's probability of ``leaf`` in one product's probability row."""
        if not leaf or leaf == NONE_FITS:
            return None
        where = np.flatnonzero(self.predictor().classes == leaf)
        return float(proba[where[0]]) if len(where) else None

    # one product ------------------------------------------------------------------------------
    @param.depends("classify", watch=True)
    def suggest(self) -> pd.DataFrame | None:
        """The top five of the typed product (``rank, category, probability``)."""
        self.suggestions, self.choice, self._proba = None, "", None
        if not self.title.strip():
            self._say("Type the product's title first.", "warning")
            return None
        product = {"title": self.title, "description": self.description or None, "brand": self.brand or None,
                   "image": self.photo}
        try:
            proba = self._score([product])
        except WorkbenchError as exc:
            self._say(str(exc), "danger")
            return None
        top, top_p = Predictor.top(proba, TOP_K)
        self._proba = proba[0]
        self.suggestions = pd.DataFrame({"rank": np.arange(1, top.shape[1] + 1),
                                         "category": self.predictor().classes[top[0]].astype(str),
                                         "probability": top_p[0].astype(float)})
        self._say("Pick the category that fits, search for another, or say none fits.", "info")
        return self.suggestions

    @param.depends("submit", watch=True)
    def send(self) -> str | None:
        """Store the seller's answer on the product on screen; returns the feedback id."""
        if self.suggestions is None or self._proba is None:
            self._say("Get the suggestions first (Suggest categories).", "warning")
            return None
        if not self.choice:
            self._say("Pick a category first, or choose “none fits”.", "warning")
            return None
        try:
            self._check()
        except WorkbenchError as exc:
            self._say(str(exc), "danger")
            return None
        leaf = None if self.choice == NONE_FITS else self.choice
        if leaf is not None and leaf not in set(self.leaves()):
            self._say(f"{leaf} is not a category of the taxonomy; pick one from the search box.", "danger")
            return None
        ranks = dict(zip(self.suggestions["category"], self.suggestions["rank"]))
        predicted = str(self.suggestions["category"].iloc[0])
        item = pd.DataFrame([{"title": self.title, "description": self.description or None,
                              "brand": self.brand or None, "image": self.save_photo(),
                              "predicted": predicted, "category": leaf,
                              "chosen_proba": self.chosen_proba(self._proba, leaf), "rank": ranks.get(leaf)}])
        [feedback_id] = record_seller_feedback(self.workspace, item, seller=self.seller,
                                               run_id=self.predictor().run_id)
        right = "yes" if leaf == predicted else "no"
        self._say(f"Thank you: saved ({'none fits' if leaf is None else leaf}; was the first suggestion "
                  f"right? {right}). A reviewer checks it before any model learns from it.", "success")
        self.suggestions, self.choice, self._proba = None, "", None
        self.title = self.description = self.brand = ""
        self.photo = None
        return feedback_id

    def save_photo(self) -> str | None:
        """Keep the checked photo in the workspace's ``images/seller/`` (re-encoded as JPEG, so the
        file stored is never the uploaded bytes), for the reviewer; returns its path."""
        if not self.photo:
            return None
        from workbench.embeddings.image_files import check_image_upload

        image = check_image_upload(self.photo, max_bytes=len(self.photo) + 1)
        folder = Path(self.workspace.path) / "images" / "seller"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{hashlib.sha256(self.photo).hexdigest()[:32]}.jpg"
        if not path.exists():
            image.convert("RGB").save(path, "JPEG", quality=90)
        return str(path)

    # a CSV of products ---------------------------------------------------------------------
    def load_bulk(self, filename: str, content: bytes | str, *, limit_bytes: int, max_rows: int,
                  limits=None) -> pd.DataFrame:
        """Read an uploaded CSV (checked like every upload) and suggest a category per row: the
        bulk table (``row, title, suggestion, probability, choice, choice_probability``); each
        row's choice starts as the first suggestion."""
        upload = read_upload(filename, content, limit_bytes=limit_bytes, max_rows=max_rows, limits=limits)
        proba = self._score(upload.products)
        top, top_p = Predictor.top(proba, TOP_K)
        classes = self.predictor().classes
        original = upload.original.reset_index(drop=True)
        ref = next((c for c in original.columns if str(c).strip().lower() in ("id", "sku", "product_id")), None)
        title_col = next(c for c in original.columns if str(c).strip().lower() in TITLE_COLUMNS)
        table = pd.DataFrame({
            "row": np.arange(1, len(original) + 1),
            "title": original[title_col].fillna("").astype(str).to_numpy(),
            "suggestion": classes[top[:, 0]].astype(str), "probability": top_p[:, 0].astype(float),
            "choice": classes[top[:, 0]].astype(str), "choice_probability": top_p[:, 0].astype(float),
            "changed": False})
        table["description"] = upload.products["description"].to_numpy() if "description" in upload.products else None
        table["brand"] = upload.products["brand"].to_numpy() if "brand" in upload.products else None
        table["product_ref"] = original[ref].astype(str).to_numpy() if ref is not None else None
        self._bulk_proba = proba
        self.bulk = table
        self._say(f"{len(table):,} products from {filename}: check each row's choice, change the wrong ones, "
                  "then submit them all at once.", "info")
        return table

    def change(self, row: int, leaf: str) -> None:
        """Change the choice of bulk row ``row`` (1-based) to ``leaf`` or :data:`NONE_FITS`."""
        if self.bulk is None:
            raise WorkbenchError("upload a CSV of products first")
        if not 1 <= int(row) <= len(self.bulk):
            raise WorkbenchError(f"row {row} is not in the table; pick a row from 1 to {len(self.bulk)}")
        if leaf != NONE_FITS and leaf not in set(self.leaves()):
            raise WorkbenchError(f"{leaf} is not a category of the taxonomy; pick one from the search box")
        table = self.bulk.copy()
        i = int(row) - 1
        table.loc[i, "choice"] = leaf
        table.loc[i, "choice_probability"] = self.chosen_proba(self._bulk_proba[i], leaf)
        table.loc[i, "changed"] = leaf != table.loc[i, "suggestion"]
        self.bulk = table

    @param.depends("change_row", watch=True)
    def apply_change(self) -> None:
        """Change bulk row ``row`` to ``new_choice`` (the page's button); a problem becomes the message."""
        if not self.new_choice:
            self._say("Search the new category first (or choose (none fits)).", "warning")
            return
        try:
            self.change(self.row, self.new_choice)
        except WorkbenchError as exc:
            self._say(str(exc), "danger")
            return
        shown = "none fits" if self.new_choice == NONE_FITS else self.new_choice
        self._say(f"Row {self.row} now says: {shown}.", "info")

    @param.depends("submit_bulk", watch=True)
    def send_bulk(self) -> list[str]:
        """Store every bulk row's choice as the seller's feedback, at once; returns the ids."""
        if self.bulk is None or self.bulk.empty:
            self._say("Upload a CSV of products first.", "warning")
            return []
        try:
            self._check()
        except WorkbenchError as exc:
            self._say(str(exc), "danger")
            return []
        table = self.bulk
        classes = self.predictor().classes
        top, _ = Predictor.top(self._bulk_proba, TOP_K)
        ranks = [next((r + 1 for r in range(top.shape[1]) if classes[top[i, r]] == c), None)
                 for i, c in enumerate(table["choice"])]
        items = pd.DataFrame({
            "title": table["title"], "description": table["description"], "brand": table["brand"],
            "product_ref": table["product_ref"], "predicted": table["suggestion"],
            "category": table["choice"].where(table["choice"] != NONE_FITS, None),
            "chosen_proba": table["choice_probability"], "rank": ranks})
        ids = record_seller_feedback(self.workspace, items, seller=self.seller, run_id=self.predictor().run_id)
        changed = int(table["changed"].sum())
        self._say(f"Thank you: {len(ids):,} answers saved ({len(ids) - changed:,} first suggestions confirmed, "
                  f"{changed:,} changed). A reviewer checks them before any model learns from them.", "success")
        self.bulk, self._bulk_proba = None, None
        return ids

    @property
    def may_sell(self) -> bool:
        """Whether this session's role holds the ``sell`` right."""
        return person_can(self.role, "sell")
