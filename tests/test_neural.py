"""The neural models' training parts on real fashion products: focal loss, semantic label
smoothing and its curriculum, early stopping, checkpoint / resume, subword vocabulary,
layer freezing. (The shared estimator contract is in ``test_model_contract.py``.)"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from workbench.errors import WorkbenchError
from workbench.models.neural import CnnLstmClassifier, TransformerClassifier
from workbench.models.neural.callbacks import Callback
from workbench.models.neural.losses import (class_weights, focal_loss, kl_to_soft_targets,
                                            semantic_smoothing_targets, smoothing_schedule)
from workbench.models.neural.vocab import SubwordVocabulary, tokenize
from workbench.paths import PROJECT_ROOT

STYLES = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion" / "styles.csv"

TINY_CNN = dict(embedding_dim=16, n_buckets=4096, n_filters=16, lstm_hidden=16, max_length=16,
                batch_size=32, lr=3e-2, warmup_ratio=0.0, max_epochs=8, dropout=0.2,
                early_stopping_patience=None, num_threads=1)


def cnn(**overrides) -> CnnLstmClassifier:
    """A tiny CNN-LSTM (seconds to train on 300 products)."""
    return CnnLstmClassifier(**{**TINY_CNN, **overrides})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fashion() -> pd.DataFrame:
    """360 real products from the 12 most common article types (seeded), title + leaf path."""
    df = pd.read_csv(STYLES, on_bad_lines="skip").dropna(subset=["productDisplayName"])
    top = df["articleType"].value_counts().index[:12]
    df = df[df["articleType"].isin(top)].sample(360, random_state=0).reset_index(drop=True)
    return pd.DataFrame({
        "title": df["productDisplayName"].astype(str),
        "leaf": df["masterCategory"] + " > " + df["subCategory"] + " > " + df["articleType"],
    })


@pytest.fixture(scope="module")
def split(fashion):
    train, valid = fashion.iloc[:300].reset_index(drop=True), fashion.iloc[300:].reset_index(drop=True)
    return train[["title"]], train["leaf"].to_numpy(), valid[["title"]], valid["leaf"].to_numpy()


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.module_.state_dict().items()}


def _same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# losses ------------------------------------------------------------------------------------
def test_focal_loss_is_cross_entropy_at_gamma_zero():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(16, 7, generator=g), torch.randint(0, 7, (16,), generator=g)
    assert torch.allclose(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target), atol=1e-6)
    weights = torch.rand(7, generator=g) + 0.5
    expected = (F.cross_entropy(logits, target, reduction="none") * weights[target]).mean()
    assert torch.allclose(focal_loss(logits, target, gamma=0.0, alpha=weights), expected, atol=1e-6)


def test_focal_loss_down_weights_easy_examples():
    # two classes; example 0 is easy (p_true = 0.9), example 1 is hard (p_true = 0.1)
    logits = torch.log(torch.tensor([[0.9, 0.1], [0.1, 0.9]]))
    target = torch.tensor([0, 0])
    easy = -(0.1 ** 2) * math.log(0.9)
    hard = -(0.9 ** 2) * math.log(0.1)
    assert focal_loss(logits, target, gamma=2.0).item() == pytest.approx((easy + hard) / 2, rel=1e-5)
    assert focal_loss(logits[:1], target[:1], gamma=2.0).item() == pytest.approx(easy, rel=1e-5)
    # the easy example's share of the loss falls from 4.4% (cross-entropy) to 0.05%
    ce_share = math.log(0.9) / (math.log(0.9) + math.log(0.1))
    assert easy / (easy + hard) < ce_share / 50
    assert focal_loss(logits, target, gamma=2.0, alpha=0.25).item() == pytest.approx(0.25 * (easy + hard) / 2, rel=1e-5)


def test_balanced_class_weights():
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    assert w.tolist() == pytest.approx([4 / 6, 4 / 2, 1.0])


def test_curriculum_goes_from_start_to_end():
    values = [smoothing_schedule(e, 5, 0.4, 0.0) for e in range(5)]
    assert values[0] == pytest.approx(0.4) and values[-1] == pytest.approx(0.0)
    assert all(a > b for a, b in zip(values, values[1:]))
    assert smoothing_schedule(3, 5, 0.4, None) == pytest.approx(0.4)
    assert smoothing_schedule(0, 1, 0.4, 0.1) == pytest.approx(0.4)


def test_semantic_targets_spread_mass_over_the_neighbours(split):
    from workbench.embeddings.category_neighbours import neighbour_matrix
    from workbench.catalog.taxonomy import Taxonomy

    taxonomy = Taxonomy.from_node_ids(sorted(set(split[1])))
    n = torch.as_tensor(neighbour_matrix(taxonomy, k=3), dtype=torch.float32)
    tshirts = taxonomy.leaf_index("Apparel > Topwear > Tshirts")
    y = torch.tensor([tshirts])
    soft = semantic_smoothing_targets(y, n, 0.3)[0]
    neighbours = torch.nonzero(n[tshirts]).flatten().tolist()
    assert len(neighbours) == 3 and tshirts not in neighbours
    assert soft[tshirts].item() == pytest.approx(0.7)
    assert soft[neighbours].sum().item() == pytest.approx(0.3, abs=1e-6)
    assert soft.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert (soft > 0).sum().item() == 4
    assert "Apparel > Topwear > Shirts" in [taxonomy.leaves[j] for j in neighbours]
    # KL is zero when the model already gives the soft targets, positive otherwise
    assert kl_to_soft_targets(torch.log(soft.clamp_min(1e-12))[None], soft[None]).item() == pytest.approx(0, abs=1e-5)
    assert kl_to_soft_targets(torch.zeros(1, len(soft)), soft[None]).item() > 0.1


# focal loss and smoothing change training -----------------------------------------------------
def test_focal_loss_is_not_ignored_in_training(split):
    X, y = split[0], split[1]
    plain = _weights(cnn(max_epochs=1).fit(X, y))
    again = _weights(cnn(max_epochs=1).fit(X, y))
    focal = _weights(cnn(max_epochs=1, focal_gamma=2.0).fit(X, y))
    balanced = _weights(cnn(max_epochs=1, focal_alpha="balanced").fit(X, y))
    assert _same_weights(plain, again)
    assert not _same_weights(plain, focal)
    assert not _same_weights(plain, balanced)


def _neighbour_mass(model, X, y) -> float:
    """Mean probability the model gives to the true leaf's semantic neighbours."""
    proba = model.predict_proba(X)
    rows = [list(model.classes_).index(v) for v in y]
    return float(np.mean([proba[i] @ (model.neighbours_[r] > 0) for i, r in enumerate(rows)]))


def test_semantic_smoothing_moves_probability_onto_neighbours(split):
    X, y, Xv, yv = split
    smooth = cnn(max_epochs=10, semantic_smoothing=1.0, smoothing_neighbours=3,
                               smoothing_start=0.5, smoothing_end=None).fit(X, y)
    plain = cnn(max_epochs=10).fit(X, y)
    assert smooth.neighbours_.shape == (len(smooth.classes_),) * 2
    assert np.allclose(smooth.neighbours_.sum(axis=1), 1.0, atol=1e-5)
    assert plain.neighbours_ is None
    plain.neighbours_ = smooth.neighbours_  # same matrix to measure the plain model with
    assert not np.allclose(smooth.predict_proba(Xv), plain.predict_proba(Xv))
    for data_X, data_y in ((X, y), (Xv, yv)):
        assert _neighbour_mass(smooth, data_X, data_y) > 1.5 * _neighbour_mass(plain, data_X, data_y)


def test_training_follows_the_smoothing_curriculum(split):
    X, y = split[0], split[1]
    model = cnn(max_epochs=3, semantic_smoothing=0.5, smoothing_start=0.4, smoothing_end=0.1).fit(X, y)
    assert [h["smoothing"] for h in model.history_] == pytest.approx([0.4, 0.25, 0.1])
    # the loss follows it: a constant strength trains the same first epoch, then differs
    constant = cnn(max_epochs=3, semantic_smoothing=0.5, smoothing_start=0.4, smoothing_end=None).fit(X, y)
    assert [h["smoothing"] for h in constant.history_] == pytest.approx([0.4] * 3)
    assert constant.history_[0]["train_loss"] == model.history_[0]["train_loss"]
    assert not _same_weights(_weights(constant), _weights(model))
    assert "smoothing" not in cnn(max_epochs=1).fit(X, y).history_[0]


# early stopping, best weights, checkpoint / resume --------------------------------------------
def test_early_stopping_stops_and_restores_the_best_epoch(split):
    X, y, Xv, yv = split
    params = dict(TINY_CNN, max_epochs=30, lr=3e-2, early_stopping_patience=2)
    model = cnn(**params).fit(X, y, Xv, yv)
    losses = [h["valid_loss"] for h in model.history_]
    best = int(np.argmin(losses)) + 1
    assert model.n_epochs_ < 30
    assert model.best_epoch_ == best and model.n_epochs_ == best + 2
    proba = model.predict_proba(Xv)
    index = {c: i for i, c in enumerate(model.classes_)}
    final_loss = -np.mean(np.log(proba[np.arange(len(yv)), [index[v] for v in yv]]))
    assert final_loss == pytest.approx(min(losses), rel=1e-4)
    # without X_valid a seeded tenth of the training rows is held out for early stopping
    held_out = cnn(**dict(params, max_epochs=2)).fit(X, y)
    assert "valid_loss" in held_out.history_[0]
    with pytest.raises(WorkbenchError):
        cnn(**dict(params, early_stopping_patience=0)).fit(X, y)


class KillAfter(Callback):
    """Simulates a killed run: raises after the given epoch (checkpoint already written)."""

    name = "kill"

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, metrics):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def test_killed_run_resumes_from_its_checkpoint(split, tmp_path):
    X, y, Xv, yv = split
    params = dict(TINY_CNN, max_epochs=3, warmup_ratio=0.2, early_stopping_patience=5)
    whole = cnn(**params).fit(X, y, Xv, yv)
    with pytest.raises(KeyboardInterrupt):
        cnn(**params, checkpoint_dir=tmp_path, callbacks=[KillAfter(1)]).fit(X, y, Xv, yv)
    assert (tmp_path / "last.safetensors").exists() and (tmp_path / "best.safetensors").exists()
    resumed = cnn(**params, checkpoint_dir=tmp_path).fit(X, y, Xv, yv)
    assert resumed.resumed_from_ == 1
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]
    assert _same_weights(_weights(whole), _weights(resumed))
    assert [h["valid_loss"] for h in resumed.history_] == [h["valid_loss"] for h in whole.history_]
    # a finished run is not resumed, and other parameters never pick up the checkpoint
    assert cnn(**params, checkpoint_dir=tmp_path).fit(X, y, Xv, yv).resumed_from_ is None
    with pytest.raises(KeyboardInterrupt):
        cnn(**params, checkpoint_dir=tmp_path, callbacks=[KillAfter(1)]).fit(X, y, Xv, yv)
    other = cnn(**dict(params, lr=5e-3), checkpoint_dir=tmp_path).fit(X, y, Xv, yv)
    assert other.resumed_from_ is None and len(other.history_) == 3
    no_resume = cnn(**params, checkpoint_dir=tmp_path, resume=False)
    with pytest.raises(KeyboardInterrupt):
        cnn(**params, checkpoint_dir=tmp_path, callbacks=[KillAfter(1)]).fit(X, y, Xv, yv)
    assert no_resume.fit(X, y, Xv, yv).resumed_from_ is None


# inputs -----------------------------------------------------------------------------------
def test_misspelt_words_share_ngram_buckets_with_the_real_word(split):
    X, y = split[0], split[1]
    vocab = SubwordVocabulary.build(X["title"], n_buckets=100_000)
    assert "sunglasses" in vocab.index and "sunglases" not in vocab.index
    real, typo, other = (set(vocab.ngram_ids(w)) for w in ("sunglasses", "sunglases", "handbag"))
    assert vocab.lookup("sunglases")[0] == 1  # unknown word id ...
    assert len(real & typo) / len(typo) > 0.6  # ... but most of its n-grams are the real word's
    assert len(other & typo) / len(typo) < 0.1
    model = cnn().fit(X, y)
    v = model.token_vectors(["sunglasses", "sunglases", "handbag"])
    cos = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    assert cos(v[0], v[1]) > cos(v[2], v[1]) + 0.2
    # a misspelt title still reads as sunglasses; an unknown word with no shared n-grams does not
    j = list(model.classes_).index("Accessories > Eyewear > Sunglasses")
    p = model.predict_proba(["Fastrack Men Black Sunglases", "Fastrack Men Black Sunglsses",
                             "Fastrack Men Black Qwrtzpk"])[:, j]
    assert p[0] > 0.5 and p[1] > 0.5 and min(p[:2]) > 3 * p[2]
    assert tokenize("Nike Men's T-Shirt 2-in-1") == ["nike", "men", "s", "t", "shirt", "2", "in", "1"]


# transformer ------------------------------------------------------------------------------
def test_transformer_trains_only_its_last_layers_and_head(split):
    from workbench.embeddings.embed import resolve_model_path
    from safetensors.torch import load_file

    X, y = split[0], split[1]
    model = TransformerClassifier(max_length=24, max_epochs=1, train_last_n_layers=1, batch_size=32,
                                  lr=1e-4, head_lr=5e-3, early_stopping_patience=None,
                                  num_threads=1, focal_gamma=1.0).fit(X, y)
    pretrained = load_file(f"{resolve_model_path('default')}/model.safetensors")
    state = model.module_.state_dict()
    frozen_key, trained_key = "layer.0.attention.self.query.weight", "layer.5.attention.self.query.weight"
    source = {k.removeprefix("bert."): v for k, v in pretrained.items()}
    assert torch.equal(state[f"encoder.encoder.{frozen_key}"], source[f"encoder.{frozen_key}"])
    assert torch.equal(state["encoder.embeddings.word_embeddings.weight"],
                       source["embeddings.word_embeddings.weight"])
    assert not torch.equal(state[f"encoder.encoder.{trained_key}"], source[f"encoder.{trained_key}"])
    # mean pooling + head already beats the majority class after one epoch on 300 products
    acc = float(np.mean(model.predict(split[2]) == split[3]))
    majority = pd.Series(y).value_counts(normalize=True).iloc[0]
    assert acc > majority + 0.15


def test_bad_parameters_are_reported(split):
    X, y = split[0], split[1]
    for bad in (dict(focal_gamma=-1.0), dict(focal_alpha=[1.0, 2.0]), dict(focal_alpha="rare"),
                dict(smoothing_start=1.5, semantic_smoothing=0.5)):
        with pytest.raises(WorkbenchError):
            cnn(max_epochs=1, **bad).fit(X, y)
    with pytest.raises(WorkbenchError):
        TransformerClassifier(train_last_n_layers=9, max_epochs=1).fit(X[:20], y[:20])


def test_frozen_layers_run_once_and_the_upper_layers_see_what_the_whole_model_computes(split):
    from workbench.models.neural.frozen_layers import UpperLayers, cached_batch, frozen_outputs, frozen_split

    X, y, Xv, yv = split
    model = TransformerClassifier(max_epochs=1, train_last_n_layers=2, early_stopping_patience=None,
                                  num_threads=1, progress=False).fit(X, y, Xv, yv)
    full = model.module_.eval()
    assert frozen_split(full.encoder) == 4
    encoded = model._encode(list(Xv["title"]))
    rows = np.arange(len(Xv))
    with torch.inference_mode():
        whole = full(**model._batch(encoded, rows))
        cached = frozen_outputs(full.encoder, encoded, 4, torch.device("cpu"))
        upper = UpperLayers(full, 4).eval()(**cached_batch(cached, rows))
    assert cached["hidden"].dtype == torch.float16
    np.testing.assert_allclose(upper.numpy(), whole.numpy(), atol=2e-3)
    # the upper part shares the model's own layers: two of six, and the head
    assert {id(p) for p in UpperLayers(full, 4).parameters()} <= {id(p) for p in full.parameters()}
    # switched off, the whole encoder runs in every step and trains the same layers
    plain = TransformerClassifier(max_epochs=1, train_last_n_layers=2, early_stopping_patience=None,
                                  num_threads=1, progress=False, cache_frozen=False).fit(X, y, Xv, yv)
    assert float(np.mean(plain.predict(Xv) == yv)) > 0.2


def test_auto_defaults_follow_the_data_and_the_machine(split):
    from workbench.models.neural import cnn_lstm, transformer

    X, y = split[0], split[1]
    model = cnn(max_length="auto", max_epochs="auto", num_threads="auto").fit(X, y)
    words = sorted(len(tokenize(t)) for t in X["title"])
    assert model.resolved_params_["max_length"] == max(cnn_lstm.LENGTH_BOUNDS[0], words[int(np.ceil(0.95 * len(words))) - 1])
    # 300 products in batches of 32: 10 steps an epoch, so the most epochs the bounds allow
    assert model.resolved_params_["max_epochs"] == cnn_lstm.EPOCH_BOUNDS[1] == len(model.history_)
    assert model.resolved_params_["num_threads"] >= 1
    assert CnnLstmClassifier.load(model.save(PROJECT_ROOT / "test-output" / "auto-cnn")).resolved_params_ == \
        model.resolved_params_
    tr = TransformerClassifier(max_epochs=1, early_stopping_patience=None, progress=False).fit(X[:60], y[:60])
    cpu = transformer.CPU
    assert {k: tr.resolved_params_[k] for k in ("train_last_n_layers", "batch_size", "lr", "head_lr")} == \
        {k: cpu[k] for k in ("train_last_n_layers", "batch_size", "lr", "head_lr")}
    assert transformer.LENGTH_BOUNDS[0] <= tr.resolved_params_["max_length"] <= transformer.LENGTH_BOUNDS[1]
