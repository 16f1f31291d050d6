"""The API's request and answer shapes (pydantic): what ``/docs`` shows and what is validated.

Limits on every field keep one request's cost bounded; a value outside them is a ``422`` that
names the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints, field_validator

MAX_TITLE = 1_000
MAX_DESCRIPTION = 10_000
MAX_ATTRIBUTES = 50
#: a title holds at least one character that is not white space (exactly Python's ``str.isspace``,
#: spelled as literal characters so that the OpenAPI document declares what the server checks)
TITLE_PATTERN = "[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
#: how a leaf is chosen from the probabilities (``workbench classify --decision``)
DecisionRule = Literal["argmax", "min-risk"]
#: numbers and integers are strict: ``true``, ``"3"`` or ``3.5`` for an integer is a ``422``
StrictNumber = Annotated[float, Strict()]
StrictInt = Annotated[int, Strict(), BeforeValidator(
    lambda v: int(v) if type(v) is float and v.is_integer() else v)]  # 7.0 is an integer in JSON Schema
StrictBool = Annotated[bool, Strict()]
AttributeName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AttributeValue = Annotated[str, StringConstraints(max_length=1_000)]
TOP_K_FIELD = Field(5, ge=1, le=10, description="how many categories to return (1-10)")
RULE_FIELD = Field("argmax", description=(
    "argmax: the most probable leaf; min-risk: the leaf with the smallest expected tree distance "
    "(fewer embarrassing misses), its own probability then meeting the threshold"))


class Product(BaseModel):
    """One product to classify. Only ``title`` is required; ``image_url`` is kept in the log and
    never fetched."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=200, description="your id of the product (kept in the log)")
    title: str = Field(..., min_length=1, max_length=MAX_TITLE, pattern=TITLE_PATTERN,
                       description="the product's name (not blank)")
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    brand: str | None = Field(None, max_length=200)
    price: StrictNumber | None = Field(None, ge=0, allow_inf_nan=False)
    image_url: str | None = Field(None, max_length=2_048, pattern=r"^https?://[^\x00-\x20\x7f-\x9f]+$")
    department: str | None = Field(None, max_length=200, description=(
        "the product's department (e.g. Men) for a run trained with --department; none: its global model"))
    attributes: dict[AttributeName, AttributeValue] | None = Field(
        None, max_length=MAX_ATTRIBUTES,
        description="catalog attributes a model may read, e.g. {\"usage\": \"Sports\"}: at most 50, names "
                    "1-64 characters, values at most 1,000")

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
    top_k: StrictInt = TOP_K_FIELD
    decision_rule: DecisionRule = RULE_FIELD
    explain: StrictBool = EXPLAIN_FIELD


class SingleProduct(Product):
    """One product, with how many categories to return."""

    top_k: StrictInt = TOP_K_FIELD
    decision_rule: DecisionRule = RULE_FIELD
    explain: StrictBool = EXPLAIN_FIELD


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

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "anyOf": [{"required": ["accepted"]}, {"required": ["category"]}]})

    prediction_id: UUID
    accepted: StrictBool = Field(None, description="true: the predicted category was right (give it, or the "
                                                   "category, or both)")
    category: str = Field(None, min_length=1, max_length=1_000,
                          description="the category finally chosen: the id of a leaf of GET /v1/taxonomy "
                                      "(is_leaf true); another value is a 422")
    by: str = Field(..., min_length=1, max_length=200, description="who gave the feedback (a seller id, a name)")


class ErrorItem(BaseModel):
    """One problem with a request."""

    field: str = Field(..., description="where: a field (products[0].title), a parameter (since) or body")
    message: str
    type: str | None = None


#: every ``error`` code a refusal may carry (the ``ErrorBody`` enum: a client may switch on it)
ErrorCode = Literal["bad_json", "too_deep", "unauthorized", "forbidden", "not_found", "method_not_allowed",
                    "conflict", "too_large", "batch_too_large", "unsupported_type", "validation",
                    "rate_limited", "server_error", "http_error"]


class ErrorBody(BaseModel):
    """Every refusal and failure: a code, one line saying what to change, and for a 422 the field
    and every problem found."""

    error: ErrorCode = Field(..., description=(
        "a code: bad_json and too_deep (400), unauthorized (401), forbidden (403), not_found (404), "
        "method_not_allowed (405), conflict (409), too_large (body) and batch_too_large (413), "
        "unsupported_type (415: not JSON, or a compressed body), validation (422), rate_limited (429), "
        "server_error (500)"))
    detail: str = Field(..., description="one line: the cause and the fix")
    field: str | None = Field(None, description="the first offending field (422)")
    errors: list[ErrorItem] | None = Field(None, description="every problem found (422)")


class FeedbackResponse(BaseModel):
    """The stored feedback."""

    feedback_id: UUID
    prediction_id: UUID
    accepted: bool
    category: str | None
    predicted: str
    rank: int | None = Field(..., description="where the chosen category was in the top-k (1 = first), null if absent")
    version: int = Field(1, description="1 for a key's first feedback on the prediction; a change is the next "
                                        "version (a replay of the current one answers it again, unchanged)")
    replaces: UUID | None = Field(None, description="the feedback this version replaces")
    stored: bool


class LogState(BaseModel):
    """The request log's writer: rows waiting in memory, rows written per stream, write errors."""

    pending: int
    written: dict[str, int]
    errors: int


class HealthResponse(BaseModel):
    """The service is up: which run answers, which shadows it, and the log's state."""

    status: Literal["ok"]
    run_id: str = Field(..., description="the serving run")
    shadow_run_id: str | None = Field(..., description="the run scoring every request beside it, if any")
    snapshot_written_at: str | None = Field(..., description="when the serving snapshot was written (ISO, UTC)")
    uptime_s: float
    log: LogState


class ModelResponse(BaseModel):
    """The serving run, the shadow run, the published thresholds, the promotion bar and the live
    accuracy of the random review sample."""

    serving: dict[str, Any] = Field(..., description="run_id, model, split, source, metrics (test and "
                                                     "validation accuracy and macro F1, accuracy per level)")
    shadow: dict[str, Any] | None
    thresholds: dict[str, Any] = Field(..., description="global, overrides per category, the run they were "
                                                        "tuned on and a warning when that is not the serving run")
    promotion_min_accuracy: float | None
    live_accuracy: dict[str, Any] | None
    level_names: list[str]


class TaxonomyNode(BaseModel):
    """One category node."""

    id: str = Field(..., description="the full path joined with ' > ' (a leaf's id is what feedback takes)")
    name: str
    parent: str | None
    level: int = Field(..., description="1 for the top level")
    level_name: str
    is_leaf: bool


class TaxonomyResponse(BaseModel):
    """The serving taxonomy: its level names, how many leaves, every node."""

    level_names: list[str]
    n_leaves: int
    nodes: list[TaxonomyNode]


class MonitorStatistic(BaseModel):
    """One monitored figure against its threshold."""

    key: str
    label: str
    value: float | None
    threshold: float
    n: int
    status: Literal["ok", "crossed", "too few", "no reference", "skipped"]
    direction: Literal["min", "max"]
    detail: str


class MonitorResponse(BaseModel):
    """The monitoring report of the traffic since ``since`` (as ``workbench monitor --json``)."""

    since: str | None
    until: str
    serving_run: str | None
    shadow_run: str | None
    statistics: list[MonitorStatistic]
    crossed: list[str] = Field(..., description="the keys of the statistics past their threshold")
    series: list[dict[str, Any]] = Field(..., description="one row per bucket (hour or day)")
    feedback: dict[str, Any] | None
    shadow: dict[str, Any] | None
    notes: list[str]


class ReloadResponse(BaseModel):
    """Whether the snapshot changed, and the run that answers now."""

    reloaded: bool
    run_id: str
