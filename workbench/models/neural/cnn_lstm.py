"""``cnn-lstm``: subword token embeddings, 1-D convolutions over n-gram windows, a
bidirectional LSTM, max-pooling over time and a dense softmax layer.

The vocabulary is built from the training text (:mod:`workbench.models.neural.vocab`): a
token's embedding is its word vector plus the mean of its hashed character n-gram vectors, so
misspelt and unseen words still land near the words they resemble. Saved as
``model.safetensors`` + ``vocab.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import WorkbenchError
from workbench.models.auto import epochs_for, length_quantile
from workbench.models.base import register
from workbench.models.neural.base import NeuralClassifier
from workbench.models.neural.vocab import SubwordVocabulary, tokenize

VOCAB = "vocab.json"
#: ``max_length="auto"``: the 95th percentile of the training texts' word counts, within these.
LENGTH_BOUNDS = (8, 32)
#: ``max_epochs="auto"``: at least this many optimizer steps, in this many epochs at least and at most.
MIN_STEPS, EPOCH_BOUNDS = 2000, (10, 30)


class CnnLstmNet(nn.Module):
    """Embeddings -> Conv1d per window size (concatenated) -> (bi)LSTM -> max-pool -> linear."""

    def __init__(self, n_words: int, n_buckets: int, n_classes: int, embedding_dim: int,
                 kernel_sizes: Sequence[int], n_filters: int, lstm_hidden: int,
                 bidirectional: bool, dropout: float):
        super().__init__()
        self.word_embedding = nn.Embedding(n_words, embedding_dim, padding_idx=0)
        self.ngram_embedding = nn.EmbeddingBag(n_buckets + 1, embedding_dim, mode="mean", padding_idx=0)
        # word vectors start at zero: a token is first its n-grams, and its own vector learns only
        # what is specific to the word, so an unseen spelling (no word vector) stays comparable
        nn.init.zeros_(self.word_embedding.weight)
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.convs = nn.ModuleList(nn.Conv1d(embedding_dim, n_filters, k) for k in self.kernel_sizes)
        self.lstm = nn.LSTM(n_filters * len(self.kernel_sizes), lstm_hidden, batch_first=True,
                            bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(lstm_hidden * (2 if bidirectional else 1), n_classes)

    def token_vectors(self, words: torch.Tensor, ngrams: torch.Tensor) -> torch.Tensor:
        """``(B, L, E)``: word vector + mean of the token's n-gram vectors."""
        b, length, depth = ngrams.shape
        grams = self.ngram_embedding(ngrams.reshape(b * length, depth)).reshape(b, length, -1)
        return self.word_embedding(words) + grams

    def forward(self, words: torch.Tensor, ngrams: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.token_vectors(words, ngrams)).transpose(1, 2)  # (B, E, L)
        length = x.shape[2]
        # pad each window size so every position keeps an output ("same" convolution)
        feats = [F.relu(conv(F.pad(x, ((k - 1) // 2, k // 2))))
                 for k, conv in zip(self.kernel_sizes, self.convs)]
        h = torch.cat(feats, dim=1).transpose(1, 2)  # (B, L, filters * n_sizes)
        packed = nn.utils.rnn.pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=length)
        mask = torch.arange(length, device=out.device)[None, :] < lengths[:, None].to(out.device)
        pooled = out.masked_fill(~mask[:, :, None], float("-inf")).max(dim=1).values
        return self.out(self.dropout(pooled))


@register
class CnnLstmClassifier(NeuralClassifier):
    """A CNN-LSTM over subword token embeddings (parameters: see :mod:`workbench.models.neural.base`).

    Own parameters: ``embedding_dim``, ``n_buckets`` (hashed n-gram buckets), ``ngram_range``,
    ``min_word_count``, ``max_words``, ``max_length`` (tokens per text), ``kernel_sizes``,
    ``n_filters``, ``lstm_hidden``, ``bidirectional``, ``dropout``.

    ``"auto"`` (the defaults of ``max_length``, ``max_epochs`` and ``num_threads``) is resolved
    from the training texts and the machine (:mod:`workbench.models.auto`): ``max_length`` is
    the 95th percentile of the texts' word counts (between :data:`LENGTH_BOUNDS`),
    ``max_epochs`` gives at least :data:`MIN_STEPS` optimizer steps (between
    :data:`EPOCH_BOUNDS`; early stopping still ends a run sooner), ``num_threads`` is the free
    cores.
    """

    kind = "cnn-lstm"

    def __init__(self, leaves=None, random_state=0, *, embedding_dim=64, n_buckets=65_536,
                 ngram_range=(3, 5), min_word_count=1, max_words=50_000, max_length="auto",
                 kernel_sizes=(2, 3, 4), n_filters=64, lstm_hidden=64, bidirectional=True,
                 dropout=0.3, max_epochs="auto", batch_size=64, lr=2e-3, weight_decay=0.01,
                 warmup_ratio=0.05, max_grad_norm=5.0, focal_gamma=0.0, focal_alpha=None, oversample=None,
                 semantic_smoothing=0.0, smoothing_neighbours=5, smoothing_start=0.3,
                 smoothing_end=0.0, early_stopping_patience=2, monitor="valid_loss",
                 validation_fraction=0.1, checkpoint_dir=None, resume=True,
                 mixed_precision="auto", device=None, num_threads="auto",
                 text_fields=("title", "brand"), callbacks=None, progress=None,
                 smoothing_model="default"):
        self._store_params(locals())

    def _auto_rules(self, texts, n_train, device):
        return {
            "max_length": lambda: length_quantile([len(tokenize(t)) for t in texts], lower=LENGTH_BOUNDS[0],
                                                  upper=LENGTH_BOUNDS[1]),
            "max_epochs": lambda: epochs_for(n_train, int(self._value("batch_size")), min_steps=MIN_STEPS,
                                             lower=EPOCH_BOUNDS[0], upper=EPOCH_BOUNDS[1]),
        }

    def _prepare(self, texts):
        if not self.kernel_sizes or any(int(k) < 1 for k in self.kernel_sizes):
            raise WorkbenchError(f"kernel_sizes must be positive window sizes, got {self.kernel_sizes}")
        self.vocab_ = SubwordVocabulary.build(texts, self.n_buckets, self.ngram_range,
                                              self.min_word_count, self.max_words)

    def _encode(self, texts):
        return [tokenize(t)[: int(self._value("max_length"))] for t in texts]

    def _batch(self, encoded, idx):
        return self.vocab_.batch([encoded[i] for i in idx])

    def _build_module(self, n_classes, pretrained):
        return CnnLstmNet(self.vocab_.n_words, self.vocab_.n_buckets, n_classes, self.embedding_dim,
                          self.kernel_sizes, self.n_filters, self.lstm_hidden, self.bidirectional,
                          self.dropout)

    def _save_inputs(self, directory: Path) -> None:
        (directory / VOCAB).write_text(json.dumps(self.vocab_.to_json()))

    def _load_inputs(self, directory: Path) -> None:
        self.vocab_ = SubwordVocabulary.from_json(json.loads((directory / VOCAB).read_text()))

    def token_vectors(self, words: Sequence[str]) -> np.ndarray:
        """The learned input vector of each word (misspellings included), ``(len(words), dim)``."""
        self._check_fitted()
        batch = self.vocab_.batch([[w] for w in words])
        with torch.inference_mode():
            vecs = self.module_.token_vectors(batch["words"].to(self.device_), batch["ngrams"].to(self.device_))
        return vecs[:, 0].float().cpu().numpy()
