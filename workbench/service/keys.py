"""API keys: who may call the HTTP API, with which role and at what rate.

A key is ``wbk_<id>_<secret>``: ``id`` names the entry, ``secret`` is 32 random bytes. Only the
SHA-256 of the secret is stored (a key is random, so a fast hash is as safe as bcrypt here and
keeps a request's check to a microsecond), in ``<workspace>/service/api_keys.json`` or
``$WORKBENCH_API_KEYS``, with owner-only permissions. The key itself is shown once, when made.

Roles, each allowing what the one before it may do: ``viewer`` (health, model, taxonomy),
``classify`` (also classify and feedback), ``admin`` (also the monitoring report and reload).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.security.roles import KEY_ROLES, key_role_includes
from workbench.service.files import read_json, write_json

ROLES = KEY_ROLES
DEFAULT_RATE = "600/min"
_PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_KEY = re.compile(r"^wbk_([0-9a-f]{8})_([A-Za-z0-9_-]{20,100})$")
_FILE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ApiKey:
    """One stored key (its hash, never the key)."""

    name: str
    key_id: str
    sha256: str
    role: str
    rate: str
    created_at: str

    def allows(self, role: str) -> bool:
        """Whether this key's role includes ``role``."""
        return key_role_includes(self.role, role)


def parse_rate(rate: str) -> tuple[float, float]:
    """``"600/min"`` -> ``(600 requests, per 60 seconds)``; also ``/s`` and ``/h``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*", str(rate))
    if not match or match.group(2) not in _PERIODS or float(match.group(1)) <= 0:
        raise WorkbenchError(f"rate {rate!r} is not understood; use e.g. 600/min, 20/s or 10000/h")
    return float(match.group(1)), _PERIODS[match.group(2)]


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _read(path: Path) -> dict:
    try:
        data = read_json(path)
    except ValueError as exc:
        raise WorkbenchError(f"API keys file {path} is not valid JSON ({exc}); fix or recreate it "
                             "with `workbench keys add`") from None
    data = data or {"version": 1, "keys": {}}
    if not isinstance(data.get("keys"), dict):
        raise WorkbenchError(f"API keys file {path} has no 'keys' object; recreate it with `workbench keys add`")
    return data


def add_key(path: str | Path, name: str, role: str, rate: str = DEFAULT_RATE) -> str:
    """Make a key for ``name`` (replacing its old one) and return it: it is never shown again."""
    name = str(name).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}", name):
        raise WorkbenchError(f"key name {name!r} must be 1-64 letters, digits or _ . @ - (no spaces)")
    if role not in ROLES:
        raise WorkbenchError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    parse_rate(rate)
    key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    path = Path(path)
    with _FILE_LOCK:
        data = _read(path)
        data["keys"][name] = {"id": key_id, "sha256": _hash(secret), "role": role, "rate": rate,
                              "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_json(path, data, mode=0o600)
    return f"wbk_{key_id}_{secret}"


def remove_key(path: str | Path, name: str) -> bool:
    """Remove a key; returns whether there was one."""
    path = Path(path)
    with _FILE_LOCK:
        data = _read(path)
        found = data["keys"].pop(str(name), None) is not None
        if found:
            write_json(path, data, mode=0o600)
    return found


def list_keys(path: str | Path) -> list[ApiKey]:
    """Every stored key, by name."""
    data = _read(Path(path))
    return [ApiKey(name, e["id"], e["sha256"], e["role"], e.get("rate", DEFAULT_RATE), e.get("created_at", ""))
            for name, e in sorted(data["keys"].items())]


class KeyRing:
    """The keys as the API checks them; re-reads the file when it changes (at most once a second),
    so a key added or removed while the API runs counts at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._by_id: dict[str, ApiKey] = {}
        self._signature: tuple | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self.reload()

    def _file_signature(self) -> tuple | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def reload(self) -> None:
        """Read the keys file now."""
        with self._lock:
            signature = self._file_signature()
            keys = list_keys(self.path) if signature is not None else []
            self._by_id = {k.key_id: k for k in keys}
            self._signature, self._checked = signature, time.monotonic()

    def __len__(self) -> int:
        return len(self._by_id)

    def verify(self, presented: str | None) -> ApiKey | None:
        """The key entry for a presented key, or ``None`` (unknown, malformed or wrong secret)."""
        if time.monotonic() - self._checked > 1.0:
            if self._file_signature() != self._signature:
                self.reload()
            self._checked = time.monotonic()
        match = _KEY.match(presented or "")
        if not match:
            return None
        entry = self._by_id.get(match.group(1))
        if entry is None or not hmac.compare_digest(entry.sha256, _hash(match.group(2))):
            return None
        return entry
