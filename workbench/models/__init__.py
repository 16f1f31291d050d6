"""The model families, all behind :class:`workbench.models.base.CategoryClassifier`.

Families are imported on demand by :func:`workbench.models.base.model_class` (see
``FAMILY_MODULES``), so importing this package loads neither torch nor xgboost nor fasttext.
"""

from workbench.models.base import CategoryClassifier, model_class, model_kinds

__all__ = ["CategoryClassifier", "model_class", "model_kinds"]
