"""The API's request and answer shapes (pydantic): what ``/docs`` shows and what is validated.

Limits on every field keep one request's cost bounded; a value outside them is a ``422`` that
names the field.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_TITLE = 1_000
MAX_DESCRIPTION = 10_000
MAX_ATTRIBUTES = 50
#: how a leaf is chosen from the probabilities (``workbench classify --decision``)
DecisionRule = Literal["argmax", "min-risk"]
RULE_FIELD = Field("argmax", description=(
    "argmax: the most probable leaf; min-risk: the leaf with the smallest expected tree distance "
    "(fewer embarrassing misses), its own probability then meeting the threshold"))


class Product(BaseModel):
    """One product to classify. Only ``title`` is required; ``image_url`` is kept in the log and
    never fetched."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=200, description="your id of the product (kept in the log)")
    title: str = Field(..., min_length=1, max_length=MAX_TITLE)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    brand: str | None = Field(None, max_length=200)
    price: float | None = Field(None, ge=0, allow_inf_nan=False)
    image_url: str | None = Field(None, max_length=2_048, pattern=r"^https?://\S+$")
    department: str | None = Field(None, max_length=200, description=(
        "the product's department (e.g. Men) for a run trained with --department; none: its global model"))
    attributes: dict[str, str] | None = Field(
        None, description="catalog attributes a model may read, e.g. {\"usage\": \"Sports\"}")

    @field_validator("title")
    @classmethod
    def _title_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the title is blank")
        return value

    @field_validator("attributes")
    @classmethod
    def _small_attributes(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return value
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        for name, text in value.items():
            if not 0 < len(name) <= 64 or len(text) > 1_000:
                raise ValueError("attribute names are 1-64 characters, values at most 1,000")
        return value


EXPLAIN_FIELD = Field(False, description=(
    "true: each prediction carries its explanation (the title's words towards the category and the "
    "runner-up with their spans, the probability per level, the nearest labelled products), as wb.explain"))


class Batch(BaseModel):
    """Several products in one request (at most the server's batch limit, else ``413``)."""

    model_config = ConfigDict(extra="forbid")

    products: list[Product] = Field(..., min_length=1)
    top_k: int = Field(5, ge=1, le=10)
    decision_rule: DecisionRule = RULE_FIELD
    explain: bool = EXPLAIN_FIELD


class SingleProduct(Product):
    """One product, with how many categories to return."""

    top_k: int = Field(5, ge=1, le=10)
    decision_rule: DecisionRule = RULE_FIELD
    explain: bool = EXPLAIN_FIELD


class Candidate(BaseModel):
    """One of the top-k categories."""

    category: str = Field(..., description="the leaf's id: its full path joined with ' > '")
    path: list[str] = Field(..., description="the category's name at every level, top first")
    probability: float


class Prediction(BaseModel):
    """The answer for one product."""

    prediction_id: UUID = Field(..., description="quote it in /v1/feedback")
    run_id: str
    category: str = Field(..., description="the leaf chosen under decision_rule")
    confidence: float = Field(..., description="the chosen leaf's probability")
    decision_rule: DecisionRule
    decision: Literal["shelved", "review"] = Field(
        ..., description="shelved: the confidence reaches the published threshold; review: a person should look")
    threshold: float | None = Field(..., description="the threshold that applied (none published: null, all to review)")
    levels: dict[str, str] = Field(..., description="the category's name at every named level")
    top_k: list[Candidate]
    explanation: dict | None = Field(None, description="with explain: true, why (see `workbench explain --json`)")


class ClassifyResponse(BaseModel):
    """Answers in the order of the products sent."""

    run_id: str
    predictions: list[Prediction]


class Feedback(BaseModel):
    """What a person said about a prediction: accepted, or the category they chose instead."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: UUID
    accepted: bool | None = Field(None, description="true: the predicted category was right")
    category: str | None = Field(None, max_length=1_000,
                                 description="the category finally chosen (a leaf id, see /v1/taxonomy)")
    by: str = Field(..., min_length=1, max_length=200, description="who gave the feedback (a seller id, a name)")


class FeedbackResponse(BaseModel):
    """The stored feedback."""

    feedback_id: UUID
    prediction_id: UUID
    accepted: bool
    category: str | None
    predicted: str
    rank: int | None = Field(..., description="where the chosen category was in the top-k (1 = first), null if absent")
    stored: bool
