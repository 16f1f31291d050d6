"""The model families, all behind :class:`workbench.models.base.CategoryClassifier`."""

from workbench.models.base import CategoryClassifier, model_class
import workbench.models.neural  # noqa: F401,E402  (registers transformer, cnn-lstm)
import workbench.models.tfidf  # noqa: F401,E402  (registers tfidf)
import workbench.models.xgb  # noqa: F401,E402  (registers xgboost)
import workbench.models.departments  # noqa: F401,E402  (registers department)

__all__ = ["CategoryClassifier", "model_class"]
import workbench.models.fasttext_model  # noqa: F401,E402  (registers fasttext)
import workbench.models.ensemble  # noqa: F401,E402  (registers ensemble)
