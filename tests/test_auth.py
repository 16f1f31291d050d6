"""Credentials and roles: bcrypt hashes only, roles and permissions, the CLI."""

from __future__ import annotations

import io
import json
import stat

import pytest

from workbench.security import auth, login
from workbench.cli.main import main
from workbench.errors import WorkbenchError


@pytest.fixture()
def creds(tmp_path, monkeypatch):
    path = tmp_path / "credentials.json"
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)  # fast hashes in tests
    auth.add_user(path, "ana", "correct horse", "reviewer")
    auth.add_user(path, "vic", "battery staple", "viewer")
    return path


def test_file_holds_hashes_only_with_owner_only_permissions(creds):
    text = creds.read_text()
    assert "correct horse" not in text and "battery staple" not in text
    data = json.loads(text)
    assert data["users"]["ana"]["password_hash"].startswith("$2b$")
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600


def test_verify_and_roles(creds):
    assert auth.verify_password(creds, "ana", "correct horse")
    assert not auth.verify_password(creds, "ana", "battery staple")
    assert not auth.verify_password(creds, "nobody", "correct horse")
    assert auth.role_of(creds, "ana") == "reviewer" and auth.role_of(creds, "vic") == "viewer"
    assert auth.role_of(creds, "nobody") is None and auth.role_of(creds, "nobody", "viewer") == "viewer"
    roles = auth.RolesFile(creds)
    assert dict(roles) == {"ana": "reviewer", "vic": "viewer"} and roles.get("nobody") is None
    auth.add_user(creds, "vic", "battery staple", "reviewer")  # a role change shows at the next lookup
    assert roles["vic"] == "reviewer"
    assert auth.RolesFile(creds, oauth_default="viewer")["someone@example.org"] == "viewer"
    assert auth.remove_user(creds, "vic") and not auth.remove_user(creds, "vic")
    assert [u["name"] for u in auth.list_users(creds)] == ["ana"]


def test_permissions():
    assert auth.can("reviewer", "review") and auth.can("reviewer", "publish")
    assert not auth.can("viewer", "review") and not auth.can("viewer", "publish") and auth.can("viewer", "view")
    assert not auth.can(None, "view")
    with pytest.raises(auth.PermissionDenied, match="vic .viewer. may not publish thresholds"):
        auth.require("viewer", "publish", "vic")
    auth.require("reviewer", "review", "ana")


def test_bad_input(creds, tmp_path):
    with pytest.raises(WorkbenchError, match="at least 8"):
        auth.add_user(creds, "bo", "short", "reviewer")
    with pytest.raises(WorkbenchError, match="unknown role"):
        auth.add_user(creds, "bo", "long enough", "owner")
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"users": {"eve": {"password": "secret123", "role": "reviewer"}}}))
    with pytest.raises(WorkbenchError, match="plain-text password"):
        auth.verify_password(plain, "eve", "secret123")
    with pytest.raises(WorkbenchError, match="no users"):
        login.auth_provider(tmp_path / "missing.json")


def test_users_cli(tmp_path, monkeypatch, capsys):
    path = tmp_path / "ws" / "credentials.json"
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert main(["users", "add", "rae", "--role", "reviewer", "--password-stdin",
                 "--workspace", str(tmp_path / "ws")]) == 0
    assert auth.verify_password(path, "rae", "s3cret-pass")
    assert "s3cret-pass" not in path.read_text()
    assert main(["users", "add", "oli@example.org", "--role", "viewer", "--oauth",
                 "--workspace", str(tmp_path / "ws")]) == 0
    capsys.readouterr()
    assert main(["users", "list", "--workspace", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "rae" in out and "reviewer" in out and "oauth" in out
    assert not auth.verify_password(path, "oli@example.org", "")
    assert main(["users", "remove", "ghost", "--workspace", str(tmp_path / "ws")]) == 2


def test_login_options(creds, tmp_path, monkeypatch):
    monkeypatch.delenv("PANEL_OAUTH_PROVIDER", raising=False)
    monkeypatch.delenv(auth.ENV_CREDENTIALS, raising=False)
    options, roles, note = login.login_options(tmp_path, creds)
    assert set(options) == {"auth_provider", "cookie_secret"} and roles["vic"] == "viewer"
    assert "login required" in note
    provider = options["auth_provider"]
    assert provider.get_user is not None and provider.login_url == "/login"
    assert login.login_options(tmp_path / "none", no_login=True)[:2] == (None, None)
    local, local_roles, note = login.login_options(tmp_path / "none")  # local only, no users yet
    assert local["auth_provider"].is_open() and dict(local_roles) == {auth.LOCAL_USER: "admin"}
    assert "until users are added" in note
    with pytest.raises(WorkbenchError, match="needs a login"):
        login.login_options(tmp_path / "none", address="0.0.0.0")
    oauth, oauth_roles, _ = login.login_options(tmp_path, creds, oauth_provider="github")
    assert oauth["oauth_provider"] == "github" and "auth_provider" not in oauth
    assert oauth_roles["someone"] == "viewer" and oauth_roles["ana"] == "reviewer"
