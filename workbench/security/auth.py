"""People and rights: a credentials file of bcrypt hashes and roles, and the login of the served app.

Roles: ``reviewer`` may submit reviews and publish thresholds; ``viewer`` may only look.
The credentials file (JSON, default ``<workspace>/credentials.json`` or
``$WORKBENCH_CREDENTIALS``) holds only bcrypt hashes, never a password, and is written with
owner-only permissions. Panel's own ``basic_auth`` compares plain-text passwords, so the app
uses :func:`workbench.security.login.credentials_provider`, a Panel auth provider whose login
handler checks the hashes off the event loop, throttles failures and keeps server-side sessions.
With OAuth configured (Panel's ``oauth_provider``), the file only maps user names to roles; a
user not in it is a viewer.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import threading
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator, Mapping
from typing import Any

import bcrypt

from workbench.errors import WorkbenchError
from workbench.security.roles import PERSON_ROLES, RIGHT_WORDS, check_person_role, least_role_with, person_can

ROLES = PERSON_ROLES
ENV_CREDENTIALS = "WORKBENCH_CREDENTIALS"
MIN_PASSWORD = 8
BCRYPT_ROUNDS = 12

_FILE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _dummy_hash(rounds: int) -> bytes:
    """A hash nobody's password matches, of the given cost (checked for unknown user names)."""
    return bcrypt.hashpw(secrets.token_bytes(16).hex().encode("ascii"), bcrypt.gensalt(rounds))


def _typical_rounds(users: Mapping[str, Any]) -> int:
    """The bcrypt cost most of the file's hashes use (``BCRYPT_ROUNDS`` when there are none)."""
    costs = []
    for entry in users.values():
        parts = str(entry.get("password_hash") or "").split("$")
        if len(parts) > 3 and parts[2].isdigit() and 4 <= int(parts[2]) <= 31:
            costs.append(int(parts[2]))
    return max(sorted(set(costs)), key=costs.count) if costs else BCRYPT_ROUNDS


def warm_dummy_hash(path: str | os.PathLike) -> None:
    """Compute the dummy hash for the file's cost now, so the first unknown name is not slower."""
    _dummy_hash(_typical_rounds(_read(Path(path))["users"]))


class PermissionDenied(WorkbenchError):
    """The logged-in user's role does not allow the action."""


def credentials_path(workspace: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> Path:
    """Where the credentials live: ``path``, else ``$WORKBENCH_CREDENTIALS``, else
    ``<workspace>/credentials.json``."""
    if path:
        return Path(path)
    if os.environ.get(ENV_CREDENTIALS):
        return Path(os.environ[ENV_CREDENTIALS])
    from workbench.paths import workspace_dir

    return workspace_dir(workspace) / "credentials.json"


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"version": 1, "users": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WorkbenchError(f"credentials file {path} is not valid JSON ({exc.msg}); fix or recreate it "
                             "with `workbench users add`") from None
    users = data.get("users")
    if not isinstance(users, dict):
        raise WorkbenchError(f"credentials file {path} has no 'users' object; recreate it with `workbench users add`")
    for name, entry in users.items():
        if "password" in entry:
            raise WorkbenchError(f"credentials file {path} holds a plain-text password for {name!r}; "
                                 "remove it and set the user again with `workbench users add`")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
    os.chmod(path, 0o600)


def check_role(role: str) -> str:
    """A known role name (of the one role table, :mod:`workbench.security.roles`), or a clear error."""
    return check_person_role(role)


def add_user(path: str | os.PathLike, name: str, password: str | None, role: str, *,
             oauth_only: bool = False) -> None:
    """Add or update a user: store a bcrypt hash of ``password`` (none with ``oauth_only``) and the role."""
    name = str(name).strip()
    if not name or any(c.isspace() for c in name):
        raise WorkbenchError(f"user name {name!r} must be non-empty and without spaces")
    check_role(role)
    entry: dict[str, Any] = {"role": role, "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if not oauth_only:
        raw = (password or "").encode("utf-8")
        if len(raw) < MIN_PASSWORD:
            raise WorkbenchError(f"the password must have at least {MIN_PASSWORD} characters")
        if len(raw) > 72:
            raise WorkbenchError("the password must be at most 72 bytes (a bcrypt limit)")
        entry["password_hash"] = bcrypt.hashpw(raw, bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")
    path = Path(path)
    with _FILE_LOCK:
        data = _read(path)
        data["users"][name] = entry
        _write(path, data)


def remove_user(path: str | os.PathLike, name: str) -> bool:
    """Remove a user; returns whether there was one."""
    path = Path(path)
    with _FILE_LOCK:
        data = _read(path)
        found = data["users"].pop(str(name), None) is not None
        if found:
            _write(path, data)
    return found


#: who a visitor is on a server of this machine that started before any user was added
LOCAL_USER = "local"


def has_users(path: str | os.PathLike) -> bool:
    """Whether the credentials file names anyone (read again at every call)."""
    try:
        return bool(_read(Path(path))["users"])
    except WorkbenchError:
        return True  # a broken file never opens the door


def list_users(path: str | os.PathLike) -> list[dict[str, Any]]:
    """``[{"name", "role", "login": "password"|"oauth"}]``, by name (hashes are not returned)."""
    users = _read(Path(path))["users"]
    return [{"name": n, "role": e.get("role"), "login": "password" if e.get("password_hash") else "oauth"}
            for n, e in sorted(users.items())]


def verify_password(path: str | os.PathLike, name: str, password: str) -> bool:
    """Whether ``password`` is the user's. An unknown name (or an OAuth-only user) is checked
    against a dummy hash of the cost the file's real hashes use, so the answer takes as long
    for a name that does not exist as for a wrong password: timing does not reveal names."""
    users = _read(Path(path))["users"]
    entry = users.get(str(name))
    stored = entry.get("password_hash") if isinstance(entry, dict) else None
    raw = str(password).encode("utf-8")[:72]
    if not stored:
        bcrypt.checkpw(raw, _dummy_hash(_typical_rounds(users)))
        return False
    try:
        return bcrypt.checkpw(raw, stored.encode("ascii"))
    except ValueError:  # a damaged hash in the file: no login, and no error page
        return False


def role_of(path: str | os.PathLike, name: str | None, default: str | None = None) -> str | None:
    """The user's role, or ``default`` when the user is not in the file."""
    if not name:
        return default
    entry = _read(Path(path))["users"].get(str(name))
    return entry.get("role", default) if entry else default


def can(role: str | None, action: str) -> bool:
    """Whether a role may do an action (a right of :data:`workbench.security.roles.RIGHTS`)."""
    return person_can(role, action)


def require(role: str | None, action: str, user: str | None = None) -> None:
    """Raise :class:`PermissionDenied` unless the role allows the action."""
    if not can(role, action):
        who = f"{user} ({role or 'no role'})" if user else (role or "an anonymous user")
        raise PermissionDenied(f"{who} may not {RIGHT_WORDS[action]}; ask an admin for the "
                               f"{least_role_with(action)} role")


class RolesFile(Mapping):
    """``{user: role}`` read from the credentials file at every lookup, so a role changed with
    ``workbench users add`` applies to the next session without restarting the server.
    With ``oauth_default`` set, any user missing from the file gets that role (OAuth logins)."""

    def __init__(self, path: str | os.PathLike, oauth_default: str | None = None, open_while_empty: bool = False):
        self.path = Path(path)
        self.oauth_default = oauth_default
        self.open_while_empty = open_while_empty

    def _roles(self) -> dict[str, str]:
        roles = {n: e.get("role") for n, e in _read(self.path)["users"].items() if e.get("role")}
        if not roles and self.open_while_empty:
            return {LOCAL_USER: "admin"}  # nobody added yet: this machine's user may do everything
        return roles

    def __getitem__(self, name: str) -> str:
        if self.open_while_empty and not has_users(self.path):
            return "admin"  # nobody added yet: this machine's visitor (no login cookie) may do everything
        roles = self._roles()
        if name in roles:
            return roles[name]
        if self.oauth_default and name:
            return self.oauth_default
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._roles())

    def __len__(self) -> int:
        return len(self._roles())


# --- the served app's login ------------------------------------------------------------------

def session_identity(credentials: str | os.PathLike | None) -> tuple[str | None, str | None]:
    """``(user, role)`` of the current Panel session (``(None, None)`` without a login).

    With a credentials file, the role is the user's role there; an OAuth user not in the
    file is a viewer.
    """
    import panel as pn

    user = pn.state.user
    if not user or user == "guest":
        return None, None
    if credentials is None:
        return user, None
    return user, role_of(credentials, user, default="viewer")


#: addresses that reach only this machine (serving there needs no login)
LOCAL_ADDRESSES = ("127.0.0.1", "localhost", "::1")
