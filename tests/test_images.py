"""Product photos as a model input, on the fashion catalog's real photos.

The encoder's weights are the real ImageNet ones (it recognises a shoe), cached and fresh vectors
are identical, every broken file (corrupt, truncated, 0 bytes, a 20,000 x 20,000 pixel bomb, not
an image, missing, a URL without --fetch-images) is counted under its own reason while the rest
embed, relative paths start at the catalog file or --images-dir, and a fused model predicts a
product without a photo.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pandas as pd
import pytest

from workbench import Workspace
from workbench.catalog.ingest import ingest_file
from workbench.catalog.mapping import ColumnMapping
from workbench.embeddings import image_files as imf
from workbench.embeddings.image_embed import embed_images, embed_product_images, image_status
from workbench.errors import WorkbenchError
from workbench.paths import PROJECT_ROOT

FASHION = PROJECT_ROOT.parent / "shared" / "datasets" / "fashion"
PHOTOS = FASHION / "images_small"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def styles() -> pd.DataFrame:
    df = pd.read_csv(FASHION / "styles.csv", on_bad_lines="skip").dropna(subset=["productDisplayName"])
    df["leaf"] = df["masterCategory"] + " > " + df["subCategory"] + " > " + df["articleType"]
    have = {int(name[:-4]) for name in os.listdir(PHOTOS) if name.endswith(".jpg")}
    return df[df["id"].isin(have)]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@functools.lru_cache(maxsize=1)
def pixel_bomb(side: int = 20_000) -> bytes:
    """A real, valid 20,000 x 20,000 black-and-white PNG (400 megapixels, 1 bit each) of 50 KB."""
    comp = zlib.compressobj(9)
    rows = b"\x00" * ((1 + side // 8) * 500)  # 500 scanlines: filter byte 0 and 2,500 bytes of pixels
    body = b"".join(comp.compress(rows) for _ in range(side // 500)) + comp.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
            + _png_chunk(b"IEND", b""))


def corrupt_png(photo: bytes) -> bytes:
    """A real photo as PNG whose compressed pixel data is overwritten in the middle."""
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    start = data.index(b"IDAT") + 40
    data[start:start + 200] = bytes(range(200))
    return bytes(data)


@pytest.fixture(scope="module")
def broken_catalog(tmp_path_factory, styles):
    """A CSV catalog beside a photos/ folder: 6 real photos and one file per way to fail."""
    folder = tmp_path_factory.mktemp("broken_catalog")
    photos = folder / "photos"
    photos.mkdir()
    rows = styles[styles["articleType"].isin(["Tshirts", "Watches", "Casual Shoes"])].sample(6, random_state=1)
    images = []
    for pid in rows["id"]:
        (photos / f"{pid}.jpg").write_bytes((PHOTOS / f"{pid}.jpg").read_bytes())
        images.append(f"photos/{pid}.jpg")
    real = (PHOTOS / f"{rows['id'].iloc[0]}.jpg").read_bytes()
    (photos / "corrupt.png").write_bytes(corrupt_png(real))
    (photos / "truncated.jpg").write_bytes(real[: len(real) // 2])
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "bomb.png").write_bytes(pixel_bomb())
    (photos / "notes.jpg").write_bytes(b"<html>this is not a photo</html>")
    images += ["photos/corrupt.png", "photos/truncated.jpg", "photos/empty.jpg", "photos/bomb.png",
               "photos/notes.jpg", "photos/missing.jpg", "https://example.invalid/p.jpg", ""]
    n = len(images)
    titles = list(rows["productDisplayName"]) + [f"Test product {i}" for i in range(n - len(rows))]
    leaves = list(rows["leaf"]) + [rows["leaf"].iloc[0]] * (n - len(rows))
    catalog = pd.DataFrame({"sku": [f"p{i}" for i in range(n)], "name": titles, "path": leaves, "photo": images})
    catalog.to_csv(folder / "catalog.csv", index=False)
    return folder, rows


EXPECTED = {imf.CORRUPT: 1, imf.TRUNCATED: 1, imf.EMPTY: 1, imf.TOO_MANY_PIXELS: 1, imf.NOT_IMAGE: 1,
            imf.MISSING: 1, imf.URL_NOT_FETCHED: 1, imf.NO_IMAGE: 1}


def test_each_broken_photo_is_counted_under_its_reason(broken_catalog, tmp_path):
    folder, rows = broken_catalog
    ws = Workspace(tmp_path / "ws")
    ingest_file(ws, folder / "catalog.csv", ColumnMapping(id="sku", title="name", category="path", image="photo"))
    report = embed_product_images(ws, progress=False)
    assert report.problems == EXPECTED
    assert report.with_vector == len(rows) == report.embedded
    status = image_status(ws).set_index("product_id")
    assert status.loc["p7", "status"] == imf.TRUNCATED and status.loc["p9", "status"] == imf.TOO_MANY_PIXELS
    # relative paths started at the catalog file's folder
    assert status.loc["p0", "location"] == str((folder / "photos" / f"{rows['id'].iloc[0]}.jpg").resolve())
    text = str(report)
    assert "no image vector for 1: too many pixels (pixel bomb)" in text and "6 have an image vector" in text
    # the same again: everything from the cache, the same problems
    again = embed_product_images(ws, progress=False)
    assert again.embedded == 0 and again.from_cache == len(rows) and again.problems == EXPECTED


def test_images_dir_is_where_relative_paths_start(broken_catalog, tmp_path):
    folder, rows = broken_catalog
    moved = tmp_path / "elsewhere"
    (moved / "photos").mkdir(parents=True)
    for pid in rows["id"][:2]:
        (moved / "photos" / f"{pid}.jpg").write_bytes((PHOTOS / f"{pid}.jpg").read_bytes())
    got = embed_images([f"photos/{pid}.jpg" for pid in rows["id"][:3]], base_dirs=[moved])
    assert list(got.ok) == [True, True, False] and got.reasons[2] == imf.MISSING


def test_cached_vectors_are_identical_to_a_fresh_encode(styles, tmp_path):
    paths = [str(PHOTOS / f"{pid}.jpg") for pid in styles["id"].sample(5, random_state=3)]
    ws = Workspace(tmp_path / "ws")
    first = embed_images(paths, workspace=ws)
    cached = embed_images(paths, workspace=ws)
    fresh = embed_images(paths)  # no workspace: encoded again
    assert first.encoded == 5 and cached.encoded == 0 and cached.from_cache == 5
    assert np.array_equal(first.matrix, cached.matrix) and np.array_equal(first.matrix, fresh.matrix)
    np.testing.assert_allclose(np.linalg.norm(first.matrix, axis=1), 1.0, rtol=1e-5)
    # the bytes decide, not the path: the same photo uploaded as bytes hits the cache
    upload = embed_images([open(paths[0], "rb").read()], workspace=ws)
    assert upload.encoded == 0 and np.array_equal(upload.matrix[0], first.matrix[0])


def test_the_encoder_carries_the_imagenet_weights(styles):
    """The network written here with the shipped state dict recognises real product photos."""
    import torch

    from workbench.embeddings.image_encoder import image_tensor, load_image_encoder

    encoder = load_image_encoder("cpu")
    watches = styles[styles["articleType"] == "Watches"]["id"].sample(6, random_state=0)
    batch = torch.from_numpy(np.stack([image_tensor(imf.decode_image((PHOTOS / f"{i}.jpg").read_bytes()), 224)
                                       for i in watches]))
    with torch.inference_mode():
        top = encoder.logits(batch).argmax(dim=1).tolist()
    # ImageNet: 409 analog clock, 531 digital watch, 635 magnetic compass, 826 stopwatch, 892 wall clock
    assert sum(t in (409, 531, 635, 826, 892) for t in top) >= 4, top


def test_an_uploaded_photo_is_checked_for_type_size_and_pixels(styles):
    photo = (PHOTOS / f"{styles['id'].iloc[0]}.jpg").read_bytes()
    assert imf.check_image_upload(photo).size == (60, 80)
    with pytest.raises(WorkbenchError, match="too many pixels.*at most 25 megapixels"):
        imf.check_image_upload(pixel_bomb())
    with pytest.raises(WorkbenchError, match="not an image.*JPEG, PNG or WebP"):
        imf.check_image_upload(b"=HYPERLINK(\"http://x\")")
    with pytest.raises(WorkbenchError, match="file too large"):
        imf.check_image_upload(photo, max_bytes=100)
    with pytest.raises(WorkbenchError, match="truncated"):
        imf.check_image_upload(photo[: len(photo) // 2])


def test_a_fused_model_predicts_products_with_and_without_a_photo(styles, tmp_path):
    from workbench.models.base import CategoryClassifier, model_class

    top = styles["leaf"].value_counts().index[:6]
    rows = styles[styles["leaf"].isin(top)].sample(360, random_state=0).reset_index(drop=True)
    X = pd.DataFrame({"title": rows["productDisplayName"],
                      "image": [str(PHOTOS / f"{i}.jpg") for i in rows["id"]]})
    y = rows["leaf"].to_numpy(dtype=object)
    ws = Workspace(tmp_path / "ws")
    model = model_class("fusion")(leaves=sorted(styles["leaf"].unique()), workspace=str(ws.path), hidden=32,
                                  n_buckets=2048, max_epochs=6, batch_size=32, lr=3e-2, progress=False,
                                  modality_dropout=0.5, early_stopping_patience=None)  # default smoothing
    model.fit(X.iloc[:300], y[:300])
    test = X.iloc[300:].reset_index(drop=True)
    with_photo = model.predict_proba(test)
    without = model.predict_proba(test.assign(image=[None, "", str(tmp_path / "gone.jpg")] * 20))
    np.testing.assert_allclose(without.sum(axis=1), 1.0, atol=1e-6)
    assert not np.allclose(with_photo, without)  # the photo is used ...
    accuracy = np.mean(model.classes_[without.argmax(axis=1)] == y[300:])
    majority = pd.Series(y[:300]).value_counts(normalize=True).iloc[0]
    # ... and without one the title still places it (better than the majority leaf, not one leaf for all)
    assert accuracy > majority + 0.05 and len(set(without.argmax(axis=1))) > 1, (accuracy, majority)
    # an upload: the photo's bytes in the image column
    one = pd.DataFrame({"title": [X["title"].iloc[300]], "image": [open(X["image"].iloc[300], "rb").read()]})
    np.testing.assert_allclose(model.predict_proba(one)[0], with_photo[0], atol=1e-6)
    model.save(tmp_path / "m")
    np.testing.assert_allclose(CategoryClassifier.load(tmp_path / "m").predict_proba(test), with_photo, atol=1e-6)


def test_late_fusion_weighs_members_by_validation_accuracy(styles, tmp_path):
    from workbench.models.base import CategoryClassifier, model_class

    top = styles["leaf"].value_counts().index[:5]
    rows = styles[styles["leaf"].isin(top)].sample(300, random_state=2).reset_index(drop=True)
    X = pd.DataFrame({"title": rows["productDisplayName"], "image": [str(PHOTOS / f"{i}.jpg") for i in rows["id"]]})
    y = rows["leaf"].to_numpy(dtype=object)
    ws = Workspace(tmp_path / "ws")
    model = model_class("ensemble")(
        members={"tfidf": {}, "image": dict(hidden=32, max_epochs=3, batch_size=32, progress=False,
                                            semantic_smoothing=0.0, early_stopping_patience=None)},
        weights="accuracy", combine="mean", workspace=str(ws.path), leaves=sorted(styles["leaf"].unique()),
        drop_margin=None)  # keep both members: this test is about the weights
    model.fit(X.iloc[:220], y[:220], X.iloc[220:], y[220:])
    acc = model.member_accuracy_
    assert set(acc) == {"tfidf", "image"}
    for kind, want in acc.items():
        got = np.mean(model.models_[kind].predict(X.iloc[220:]) == y[220:])
        assert got == pytest.approx(want)
    np.testing.assert_allclose(model.weights_, [acc["tfidf"] / sum(acc.values()), acc["image"] / sum(acc.values())])
    model.save(tmp_path / "e")
    loaded = CategoryClassifier.load(tmp_path / "e")
    assert loaded.member_accuracy_ == acc
    np.testing.assert_allclose(loaded.predict_proba(X.iloc[220:]), model.predict_proba(X.iloc[220:]), atol=1e-6)
    with pytest.raises(WorkbenchError, match="unknown weights"):
        model_class("ensemble")(members=["tfidf"], weights="f1").fit(X, y)


def test_embed_images_from_the_command_line(broken_catalog, tmp_path):
    folder, rows = broken_catalog
    ws = Workspace(tmp_path / "ws")
    ingest_file(ws, folder / "catalog.csv", ColumnMapping(id="sku", title="name", category="path", image="photo"))
    ws.close()
    run = subprocess.run([sys.executable, "-m", "workbench.cli.main", "embed", "--images", "--workspace",
                          str(tmp_path / "ws"), "--no-progress"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "6 have an image vector" in run.stdout and "URL not fetched (pass --fetch-images)" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "workbench.cli.main", "embed", "--images", "--workspace",
                          str(tmp_path / "ws"), "--images-dir", str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "is not a folder" in bad.stderr


def test_the_pages_use_the_photo(sample_workspace, styles):
    """Classify with a photo under a fusion run (checked upload), and the map by image vectors."""
    from workbench.app.state import ClassifyState, MapState
    from workbench.embeddings.image_encoder import image_model_id
    from workbench.embeddings.projection import project
    from workbench.runs.training import train_models

    ws = sample_workspace("photos_pages", 300)
    embed_product_images(ws, progress=False)
    project(ws, model=image_model_id())
    tiny = dict(hidden=32, n_buckets=2048, max_epochs=2, batch_size=32, semantic_smoothing=0.0,
                early_stopping_patience=None, progress=False)
    run_id = train_models(ws, ["fusion"], "grouped", params={"fusion": tiny})[0]
    state = ClassifyState(workspace=ws, run_id=run_id)
    assert state.multimodal
    with pytest.raises(WorkbenchError, match="pixel bomb"):
        state.set_photo(pixel_bomb(), limit_bytes=10 * 2**20)
    assert state.photo is None
    shoe = styles[styles["articleType"] == "Sports Shoes"].iloc[0]
    state.set_photo((PHOTOS / f"{shoe['id']}.jpg").read_bytes(), limit_bytes=10 * 2**20)
    state.title = shoe["productDisplayName"]
    with_photo, _ = state.classify()
    state.photo = None
    without, _ = state.classify()
    assert len(with_photo) == 5 and not np.allclose(with_photo["probability"], without["probability"])
    labels = MapState(workspace=ws).param.model.names
    assert f"image vectors ({image_model_id()})" in labels
