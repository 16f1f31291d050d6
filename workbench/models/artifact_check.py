"""Model files checked before a native loader reads them: size, magic bytes, structure, a time limit.

A saved model may come from another machine, a backup or a colleague. fastText's C++ loader
trusts every count in its file: a corrupt ``model.bin`` makes it loop for minutes over a
dictionary of two billion entries, allocate a matrix of 2^30 columns or read garbage past the
end and load "successfully". :func:`check_fasttext_file` walks the file's structure in Python
first (header, arguments, dictionary, both matrices) and refuses anything whose counts do not
add up to the file's size, within a time limit. :func:`check_file_size` and
:func:`check_magic` are the generic checks for other native formats (XGBoost's JSON/UBJSON).
"""

from __future__ import annotations

import mmap
import os
import struct
import time
from pathlib import Path

from workbench.errors import WorkbenchError

#: Largest model file a loader is handed (bytes); ``$WORKBENCH_MAX_MODEL_MB`` overrides it.
MAX_MODEL_BYTES = 4 * 1024 ** 3
#: Seconds a structural check may take before the file is refused as suspicious.
CHECK_SECONDS = 20.0

FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
_ARGS = struct.Struct("<12id")  # dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, t
_DICT_HEAD = struct.Struct("<iiiqq")  # size nwords nlabels ntokens pruneidx_size
_MATRIX_HEAD = struct.Struct("<qq")  # rows, columns (float32 values follow)
_LOSSES = range(1, 5)  # hs, ns, softmax, ova
_MODELS = range(1, 4)  # cbow, skipgram, supervised


def max_model_bytes() -> int:
    """The size limit for model files (``$WORKBENCH_MAX_MODEL_MB`` in MB, else 4 GiB)."""
    env = os.environ.get("WORKBENCH_MAX_MODEL_MB")
    return int(float(env) * 1024 * 1024) if env else MAX_MODEL_BYTES


def check_file_size(path: str | Path, *, min_bytes: int = 1, max_bytes: int | None = None) -> int:
    """The file's size, or a :class:`WorkbenchError` when it is missing, too small or too large."""
    path = Path(path)
    if not path.is_file():
        raise WorkbenchError(f"model file {path} is missing; save the model again")
    size = path.stat().st_size
    limit = max_model_bytes() if max_bytes is None else max_bytes
    if size < min_bytes:
        raise WorkbenchError(f"model file {path} has {size} bytes, too few to be a model; "
                             "it is truncated or empty: save the model again")
    if size > limit:
        raise WorkbenchError(f"model file {path} has {size / 1024 ** 2:,.0f} MB, above the limit of "
                             f"{limit / 1024 ** 2:,.0f} MB; set WORKBENCH_MAX_MODEL_MB if it is genuine")
    return size


def check_magic(path: str | Path, prefixes: tuple[bytes, ...], what: str) -> None:
    """Refuse a file that does not start with one of ``prefixes`` (e.g. ``b"{"`` for JSON)."""
    check_file_size(path)
    with open(path, "rb") as fh:
        head = fh.read(max(len(p) for p in prefixes))
    if not head.startswith(prefixes):
        raise WorkbenchError(f"{path} is not a {what} file (it starts with {head[:8]!r}); "
                             "save the model again")


class _Reader:
    """Bounds-checked reads from a memory map, failing with the file's name and offset."""

    def __init__(self, path: Path, data, deadline: float):
        self.path, self.data, self.pos, self.deadline = path, data, 0, deadline

    def fail(self, why: str) -> WorkbenchError:
        return WorkbenchError(f"{self.path} is not a valid fastText model ({why}, at byte {self.pos:,}); "
                              "it is corrupt or truncated: train or save the model again")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"{n:,} more bytes expected, the file ends first")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"{n:,} more bytes expected, the file ends first")
        self.pos += n

    def unpack(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))

    def skip_words(self, count: int) -> None:
        """Skip ``count`` dictionary entries: a NUL-terminated word, an int64 count, an int8 type."""
        for i in range(count):
            end = self.data.find(b"\0", self.pos)
            if end < 0:
                raise self.fail(f"dictionary entry {i + 1:,} of {count:,} has no end")
            self.pos = end + 1
            kind = self.take(9)[8]
            if kind not in (0, 1):
                raise self.fail(f"dictionary entry {i + 1:,} has type {kind}, not word or label")
            if i % 4096 == 0 and time.monotonic() > self.deadline:
                raise WorkbenchError(f"{self.path}: checking the fastText dictionary took more than "
                                     f"{CHECK_SECONDS:g} s; the file is suspicious, save the model again")


def check_fasttext_file(path: str | Path, *, max_bytes: int | None = None) -> dict:
    """Walk a fastText ``model.bin`` (unquantised, format version 12) and return its header
    numbers; a :class:`WorkbenchError` names the first thing that does not add up."""
    path = Path(path)
    size = check_file_size(path, min_bytes=8 + _ARGS.size + _DICT_HEAD.size, max_bytes=max_bytes)
    deadline = time.monotonic() + CHECK_SECONDS
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        r = _Reader(path, data, deadline)
        magic, version = r.unpack(struct.Struct("<ii"))
        if magic != FASTTEXT_MAGIC:
            raise r.fail("wrong magic number: not a fastText binary")
        if version != FASTTEXT_VERSION:
            raise r.fail(f"format version {version}, this fastText reads {FASTTEXT_VERSION}")
        dim, _ws, _epoch, _min_count, _neg, word_ngrams, loss, model, bucket, minn, maxn, _lr_rate, _t = \
            r.unpack(_ARGS)
        if not (0 < dim <= 10_000 and loss in _LOSSES and model in _MODELS and 0 <= bucket <= 100_000_000
                and 0 <= minn <= maxn <= 100 and 0 < word_ngrams <= 100):
            raise r.fail(f"implausible arguments (dim {dim}, loss {loss}, model {model}, bucket {bucket}, "
                         f"minn {minn}, maxn {maxn})")
        n_entries, n_words, n_labels, _tokens, prune_size = r.unpack(_DICT_HEAD)
        if not (0 <= n_words and 0 <= n_labels and n_entries == n_words + n_labels
                and n_entries * 10 <= size and -1 <= prune_size <= size // 8):
            raise r.fail(f"implausible dictionary ({n_entries:,} entries, {n_words:,} words, "
                         f"{n_labels:,} labels in a file of {size:,} bytes)")
        r.skip_words(n_entries)
        r.skip(8 * max(prune_size, 0))
        expected_rows = {"input": n_words + bucket, "output": n_labels if model == 3 else n_words}
        for which, want in expected_rows.items():
            if r.take(1) != b"\0":
                raise r.fail(f"quantised {which} matrix (the workbench saves unquantised models only)")
            rows, cols = r.unpack(_MATRIX_HEAD)
            if (rows, cols) != (want, dim):
                raise r.fail(f"{which} matrix of {rows:,} x {cols:,}, expected {want:,} x {dim}")
            r.skip(rows * cols * 4)
        if r.pos != size:
            raise r.fail(f"{size - r.pos:,} unexpected bytes after the output matrix")
    return {"dim": dim, "words": n_words, "labels": n_labels, "bucket": bucket, "bytes": size}
