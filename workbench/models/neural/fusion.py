"""``fusion`` and ``image``: a small network on a product's text and photo, the case study's form.

The encoders are frozen: the photo is its cached EfficientNet-Lite0 vector
(:mod:`workbench.embeddings.image_embed`), the text is, by ``text_encoder``:

* ``"ngrams"``: a bag of the title's words, hashed character 3-5-grams and word bigrams
  (fastText-style, the only learned text part; cheap on a CPU, strongest on short titles);
* ``"sentence"``: the cached sentence-transformer vector (all-MiniLM-L6-v2 by default, frozen),
  as in the case study (``workbench embed`` computes them once);
* ``"both"``: the two added.

Each modality is projected to ``hidden`` numbers; ``fusion="concat"`` concatenates the text and
image projections, ``"gated"`` mixes them with a learned per-dimension gate; a hidden layer and
a softmax follow. A product without a photo gets a learned "no image" vector in place of its
image projection, and during training a share ``modality_dropout`` of the photos is hidden the
same way, so the network also learns to classify from the text alone. Loss (focal, semantic
smoothing with curriculum), early stopping, checkpoints and persistence are the neural
families' (:mod:`workbench.models.neural.base`). ``image`` is the same network on the photo only.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from workbench.errors import WorkbenchError
from workbench.models.base import product_texts, register
from workbench.models.neural.base import NeuralClassifier
from workbench.models.neural.vocab import SubwordVocabulary, fnv1a, tokenize

VOCAB = "vocab.json"
TEXT_ENCODERS = ("ngrams", "sentence", "both")
FUSIONS = ("concat", "gated")
INPUTS = ("text", "image")


@dataclass
class FusionInputs:
    """The inputs of a batch of products: token lists, sentence vectors, image vectors; after
    ``_encode`` also each product's bag of n-gram ids."""

    tokens: list
    sentence: np.ndarray | None
    image: np.ndarray | None
    has_image: np.ndarray | None
    bags: list | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def take(self, rows: np.ndarray) -> "FusionInputs":
        """The inputs of some rows."""
        pick = (lambda a: None if a is None else a[rows])
        return replace(self, tokens=[self.tokens[i] for i in rows], sentence=pick(self.sentence),
                       image=pick(self.image), has_image=pick(self.has_image),
                       bags=None if self.bags is None else [self.bags[i] for i in rows])


class FusionNet(nn.Module):
    """Text towers + image tower -> concat or gate -> hidden layer -> class scores."""

    def __init__(self, n_classes: int, hidden: int, *, n_bag: int = 0, sentence_dim: int = 0,
                 image_dim: int = 0, fusion: str = "concat", dropout: float = 0.3,
                 modality_dropout: float = 0.0):
        super().__init__()
        self.fusion, self.modality_dropout = fusion, float(modality_dropout)
        self.bag = nn.EmbeddingBag(n_bag, hidden, mode="mean") if n_bag else None
        if self.bag is not None:
            # small, as fastText starts its vectors: the mean of a title's ids starts near 0 and each
            # id's vector moves by what it alone predicts
            nn.init.uniform_(self.bag.weight, -1.0 / hidden, 1.0 / hidden)
        self.sentence = nn.Linear(sentence_dim, hidden) if sentence_dim else None
        self.image = nn.Linear(image_dim, hidden) if image_dim else None
        self.no_image = nn.Parameter(torch.zeros(hidden)) if image_dim else None
        has_text = self.bag is not None or self.sentence is not None
        width = hidden * (2 if has_text and image_dim and fusion == "concat" else 1)
        self.gate = nn.Linear(2 * hidden, hidden) if has_text and image_dim and fusion == "gated" else None
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(width, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, bag_ids=None, bag_offsets=None, sentence=None, image=None, has_image=None):
        parts = []
        text = None
        if self.bag is not None:
            text = self.bag(bag_ids, bag_offsets)
        if self.sentence is not None:
            s = self.sentence(sentence)
            text = s if text is None else text + s
        if text is not None:
            parts.append(torch.relu(text))
        if self.image is not None:
            present = has_image.float()
            if self.training and self.modality_dropout > 0:
                present = present * (torch.rand_like(present) >= self.modality_dropout).float()
            img = torch.relu(self.image(image))
            img = present[:, None] * img + (1 - present[:, None]) * self.no_image
            parts.append(img)
        if self.gate is not None:
            g = torch.sigmoid(self.gate(torch.cat(parts, dim=1)))
            h = g * parts[0] + (1 - g) * parts[1]
        else:
            h = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        h = self.dropout(torch.relu(self.hidden(self.dropout(h))))
        return self.out(h)


@register
class FusionClassifier(NeuralClassifier):
    """Text and photo through frozen encoders into a small fusion network (module docstring).

    Own parameters: ``inputs`` (``("text", "image")``, or one of them), ``text_encoder``
    (``ngrams``, ``sentence``, ``both``), ``text_model`` (sentence-transformers model),
    ``image_model`` (``efficientnet-lite0-80`` etc.), ``workspace`` (whose caches and recorded
    photos are used), ``images_dir`` (base of relative image paths), ``fusion`` (``concat`` /
    ``gated``), ``hidden``, ``dropout``, ``modality_dropout``, ``n_buckets``, ``ngram_range``,
    ``min_word_count``, ``max_words``; the training parameters are the neural families'.
    """

    kind = "fusion"

    def __init__(self, leaves=None, random_state=0, *, inputs=("text", "image"), text_encoder="ngrams",
                 text_model="default", image_model="default", workspace=None, images_dir=None,
                 fusion="concat", hidden=128, dropout=0.3, modality_dropout=0.15, n_buckets=16_384,
                 ngram_range=(3, 5), min_word_count=1, max_words=20_000, max_epochs=10, batch_size=256,
                 lr=2e-2, weight_decay=0.0, warmup_ratio=0.05, max_grad_norm=5.0, focal_gamma=1.0,
                 focal_alpha=None, semantic_smoothing=0.5, smoothing_neighbours=5, smoothing_start=0.3,
                 smoothing_end=0.0, early_stopping_patience=3, monitor="valid_loss", validation_fraction=0.1,
                 checkpoint_dir=None, resume=True, mixed_precision="auto", device=None, num_threads=None,
                 text_fields=("title", "brand"), callbacks=None, progress=None, smoothing_model="default"):
        self._store_params(locals())

    # inputs -------------------------------------------------------------------------------
    def _uses(self) -> tuple[bool, bool, bool]:
        """(n-gram bag, sentence vector, image vector)."""
        inputs = tuple(self.inputs)
        unknown = sorted(set(inputs) - set(INPUTS))
        if unknown or not inputs:
            raise WorkbenchError(f"inputs must name some of {INPUTS}, got {inputs}")
        if self.text_encoder not in TEXT_ENCODERS:
            raise WorkbenchError(f"unknown text_encoder {self.text_encoder!r}; use one of {TEXT_ENCODERS}")
        if self.fusion not in FUSIONS:
            raise WorkbenchError(f"unknown fusion {self.fusion!r}; use one of {FUSIONS}")
        text = "text" in inputs
        return (text and self.text_encoder in ("ngrams", "both"),
                text and self.text_encoder in ("sentence", "both"), "image" in inputs)

    def _inputs(self, X) -> FusionInputs:
        bag, sentence, image = self._uses()
        texts = product_texts(X, self.text_fields)
        vectors = None
        if sentence:
            from workbench.embeddings.embed import embed_texts
            from workbench.store import Workspace

            cache = Workspace(self.workspace) if self.workspace else None
            vectors = embed_texts(texts, model=self.text_model, device=self.device, workspace=cache)
        pictures = has = None
        if image:
            from workbench.embeddings.image_embed import product_image_vectors

            pictures, has = product_image_vectors(X, self.image_model, workspace=self.workspace,
                                                  images_dir=self.images_dir, device=self.device)
        return FusionInputs([tokenize(t) for t in texts] if bag else [[]] * len(texts),
                            vectors, pictures, has)

    def _inputs_digest(self, inputs: FusionInputs):
        h = hashlib.sha256(json.dumps(inputs.tokens).encode())
        for array in (inputs.sentence, inputs.image, inputs.has_image):
            if array is not None:
                h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()

    def _prepare(self, inputs: FusionInputs) -> None:
        bag, _, _ = self._uses()
        self.vocab_ = (SubwordVocabulary.build([" ".join(t) for t in inputs.tokens], self.n_buckets,
                                               self.ngram_range, self.min_word_count, self.max_words)
                       if bag else None)
        self.input_dims_ = {"sentence": 0 if inputs.sentence is None else int(inputs.sentence.shape[1]),
                            "image": 0 if inputs.image is None else int(inputs.image.shape[1])}

    def _bag(self, tokens: list[str]) -> np.ndarray:
        """Word ids, then n-gram and bigram buckets after them (one shared id space)."""
        vocab = self.vocab_
        ids = []
        for word in tokens:
            wid, grams = vocab.lookup(word)
            if wid > 1:
                ids.append(wid)
            ids.extend(vocab.n_words + g for g in grams)
        for a, b in zip(tokens, tokens[1:]):
            ids.append(vocab.n_words + fnv1a(f"{a} {b}") % vocab.n_buckets + 1)
        return np.asarray(ids or [1], dtype=np.int64)

    def _encode(self, inputs: FusionInputs) -> FusionInputs:
        if self.vocab_ is None:
            return inputs
        return replace(inputs, bags=[self._bag(t) for t in inputs.tokens])

    def _batch(self, encoded: FusionInputs, idx: np.ndarray) -> dict[str, torch.Tensor]:
        batch = {}
        if encoded.bags is not None:
            bags = [encoded.bags[i] for i in idx]
            batch["bag_ids"] = torch.from_numpy(np.concatenate(bags))
            batch["bag_offsets"] = torch.from_numpy(np.cumsum([0] + [len(b) for b in bags[:-1]]).astype(np.int64))
        if encoded.sentence is not None:
            batch["sentence"] = torch.from_numpy(np.ascontiguousarray(encoded.sentence[idx]))
        if encoded.image is not None:
            batch["image"] = torch.from_numpy(np.ascontiguousarray(encoded.image[idx]))
            batch["has_image"] = torch.from_numpy(encoded.has_image[idx].astype(np.float32))
        return batch

    def _build_module(self, n_classes: int, pretrained: bool) -> nn.Module:
        n_bag = self.vocab_.n_words + self.vocab_.n_buckets + 1 if self.vocab_ is not None else 0
        return FusionNet(n_classes, int(self.hidden), n_bag=n_bag, sentence_dim=self.input_dims_["sentence"],
                         image_dim=self.input_dims_["image"], fusion=self.fusion, dropout=self.dropout,
                         modality_dropout=self.modality_dropout)

    def _save_inputs(self, directory: Path) -> None:
        state = {"input_dims": self.input_dims_,
                 "vocab": self.vocab_.to_json() if self.vocab_ is not None else None}
        (directory / VOCAB).write_text(json.dumps(state))

    def _load_inputs(self, directory: Path) -> None:
        state = json.loads((directory / VOCAB).read_text())
        self.input_dims_ = state["input_dims"]
        self.vocab_ = SubwordVocabulary.from_json(state["vocab"]) if state["vocab"] else None


def _init_with_defaults(base, **defaults):
    """An ``__init__`` with ``base``'s parameters and some other defaults (scikit-learn reads
    the parameters from the signature, so it is rewritten, not wrapped in ``**kwargs``)."""
    signature = inspect.signature(base)
    signature = signature.replace(parameters=[p.replace(default=defaults.get(p.name, p.default))
                                              for p in signature.parameters.values()])

    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        self._store_params(dict(bound.arguments))

    __init__.__signature__ = signature
    return __init__


@register
class ImageClassifier(FusionClassifier):
    """``image``: the fusion network on the photo alone (products without one get the learned
    "no image" vector, i.e. the training prior); for comparison with text and fused models."""

    kind = "image"
    __init__ = _init_with_defaults(FusionClassifier.__init__, inputs=("image",), modality_dropout=0.02,
                                   semantic_smoothing=0.5, max_epochs=15)
