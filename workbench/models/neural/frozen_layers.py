"""Train the upper layers of a partly frozen encoder on cached outputs of its frozen part.

When only the last layers of the encoder train (``train_last_n_layers``), the embeddings and the
lower layers compute the same function in every epoch. Their forward pass is most of the cost of
a training step on a CPU (``benchmarks/RESULTS.md``, "Transformer on a CPU": training only the
head still costs 41% of a full fine-tune's step), so it is run **once**, in inference mode, and
its output is kept (float16, one row per text); each epoch then runs only the trainable layers,
the pooling and the head. The frozen layers run without dropout there (as at prediction time).

The trainable part is the encoder itself with its embeddings swapped for a pass-through and its
layer list cut to the trainable layers (the same layer objects, so training them trains the
model): attention masks and everything else come from the encoder's own ``forward``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

#: Rows per batch when computing the frozen part's outputs.
BATCH = 256


class _PassThrough(nn.Module):
    """Embeddings that hand back what they are given (the cached hidden states)."""

    def forward(self, input_ids=None, inputs_embeds=None, **_: Any) -> torch.Tensor:
        return inputs_embeds


def _with_layers(encoder: nn.Module, layers: list[nn.Module], embeddings: nn.Module | None = None) -> nn.Module:
    """A shallow copy of ``encoder`` running only ``layers`` (shared, not copied)."""
    part = copy.copy(encoder)
    part._modules = dict(encoder._modules)
    stack = copy.copy(encoder.encoder)
    stack._modules = dict(encoder.encoder._modules)
    stack._modules["layer"] = nn.ModuleList(layers)
    part._modules["encoder"] = stack
    if embeddings is not None:
        part._modules["embeddings"] = embeddings
    return part


def frozen_split(encoder: nn.Module) -> int:
    """How many encoder layers are frozen (0 when the embeddings train too: nothing to cache)."""
    if any(p.requires_grad for p in encoder.embeddings.parameters()):
        return 0
    layers = list(encoder.encoder.layer)
    return next((i for i, layer in enumerate(layers) if any(p.requires_grad for p in layer.parameters())),
                len(layers))


def frozen_outputs(encoder: nn.Module, encoded: dict[str, torch.Tensor], n_frozen: int,
                   device: torch.device) -> dict[str, torch.Tensor]:
    """The frozen part's output for every row of ``encoded`` (``input_ids``, ``attention_mask``):
    ``hidden`` (float16, rows x tokens x hidden size, zero past each batch's longest text) and
    the ``attention_mask``. Rows are run longest first so that batches carry little padding."""
    lower = _with_layers(encoder, list(encoder.encoder.layer)[:n_frozen])
    mask = encoded["attention_mask"]
    n, width = mask.shape
    hidden = torch.zeros((n, width, encoder.config.hidden_size), dtype=torch.float16)
    order = np.argsort(-mask.sum(dim=1).numpy(), kind="stable")
    was_training = encoder.training
    encoder.eval()
    with torch.inference_mode():
        for start in range(0, n, BATCH):
            idx = torch.as_tensor(order[start:start + BATCH])
            m = mask[idx]
            w = max(1, int(m.sum(dim=1).max()))
            out = lower(input_ids=encoded["input_ids"][idx, :w].to(device),
                        attention_mask=m[:, :w].to(device)).last_hidden_state
            hidden[idx, :w] = out.to("cpu", torch.float16)
    encoder.train(was_training)
    return {"hidden": hidden, "attention_mask": mask}


def cached_batch(cached: dict[str, torch.Tensor], idx: np.ndarray) -> dict[str, torch.Tensor]:
    """The inputs of :class:`UpperLayers` for rows ``idx`` (trimmed to their longest text)."""
    idx = torch.as_tensor(idx, dtype=torch.long)
    mask = cached["attention_mask"][idx]
    width = max(1, int(mask.sum(dim=1).max()))
    return {"hidden": cached["hidden"][idx, :width].float(), "attention_mask": mask[:, :width]}


class UpperLayers(nn.Module):
    """The trainable part of a mean-pooling classifier: the encoder's layers from ``n_frozen``
    on, mean pooling over the mask, dropout and the head (all shared with ``model``)."""

    def __init__(self, model: nn.Module, n_frozen: int):
        super().__init__()
        self.encoder = _with_layers(model.encoder, list(model.encoder.encoder.layer)[n_frozen:], _PassThrough())
        self.dropout = model.dropout
        self.head = model.head

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.encoder(inputs_embeds=hidden, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.head(self.dropout(pooled))
