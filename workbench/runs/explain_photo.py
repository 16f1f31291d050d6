"""The photo's part in an explanation: which part of a model reads photos, and how much of one
decision the photo makes (the chosen leaf's probability with and without it). Used by
:mod:`workbench.runs.explain`."""

from __future__ import annotations

from typing import Any

import numpy as np


def photo_member(model):
    """The part of a model that reads photos (the model itself, or an ensemble's member), or ``None``."""
    members = getattr(model, "models_", None) or {"": model}
    return next((m for m in members.values() if "image" in tuple(getattr(m, "inputs", ()) or ())), None)


def reads_photos(model) -> bool:
    """Whether a model reads photos (``fusion``, ``image``, an ensemble with one of them)."""
    return photo_member(model) is not None


def photo_index_model(model) -> str | None:
    """The image embedding model whose neighbour index answers a photo-reading model's photo
    neighbours (``None`` for a model that reads no photos)."""
    from workbench.embeddings.image_encoder import image_model_id

    member = photo_member(model)
    return None if member is None else image_model_id(getattr(member, "image_model", None))


def has_photo(value) -> bool:
    """Whether a product's image value names a photo (not missing, not empty)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    return bool(len(value)) if isinstance(value, (str, bytes, bytearray)) else True


def photo_share(with_photo: np.ndarray, without_photo: np.ndarray, chosen: int, classes) -> dict[str, Any]:
    """The photo's part in one decision, from the probabilities with and without the photo:
    ``with_photo`` / ``without_photo`` (the chosen leaf's probability), ``text_alone`` (the leaf
    the text alone chooses) and its probability, ``photo_share`` (the part of the chosen leaf's
    probability that the photo adds, ``(with - without) / with``, 0 when the photo lowers it),
    ``text_share`` (the rest) and ``why`` in words."""
    p1, p0 = float(with_photo[chosen]), float(without_photo[chosen])
    text_best = int(np.argmax(without_photo))
    share = min(1.0, max(0.0, (p1 - p0) / p1)) if p1 > 0 else 0.0
    leaf = str(classes[chosen]).split(" > ")[-1]
    if text_best != chosen:
        why = (f"the photo decides: the title alone says {str(classes[text_best]).split(' > ')[-1]} "
               f"({float(without_photo[text_best]):.0%}); with the photo {leaf} ({p1:.0%})")
    elif p1 >= p0:
        why = f"the photo raises {leaf} from {p0:.0%} (title alone) to {p1:.0%}: {share:.0%} of it is the photo's"
    else:
        why = f"the photo lowers {leaf} from {p0:.0%} (title alone) to {p1:.0%}: the decision is the title's"
    return {"with_photo": p1, "without_photo": p0, "text_alone": str(classes[text_best]),
            "text_alone_probability": float(without_photo[text_best]), "photo_changed_category": text_best != chosen,
            "photo_share": share, "text_share": 1.0 - share, "why": why}
