"""The neural model families (``transformer``, ``cnn-lstm``) and their shared training parts."""

from workbench.models.neural.base import NeuralClassifier
from workbench.models.neural.cnn_lstm import CnnLstmClassifier
from workbench.models.neural.transformer import TransformerClassifier

__all__ = ["NeuralClassifier", "CnnLstmClassifier", "TransformerClassifier"]
