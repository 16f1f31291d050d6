"""The one role table (workbench/security/roles.py): people's roles on the dashboards and API
keys' roles, read by both surfaces from one place."""

import pytest

from workbench.errors import WorkbenchError
from workbench.security import auth, roles
from workbench.service import keys
from workbench.service.guard import ENDPOINT_ROLES


def test_person_rights_from_the_one_table():
    assert roles.person_can("viewer", "view") and not roles.person_can("viewer", "review")
    assert roles.person_can("reviewer", "review") and not roles.person_can("reviewer", "change_taxonomy")
    assert all(roles.person_can("admin", right) for right in roles.RIGHTS)
    # a seller sees only the seller's page: no dashboards, no reviews
    assert roles.person_can("seller", "sell") and not roles.person_can("seller", "view")
    assert not roles.person_can(None, "view")
    with pytest.raises(WorkbenchError, match="unknown right 'fly'"):
        roles.person_can("admin", "fly")


def test_refusals_name_the_least_role_that_would_do():
    with pytest.raises(auth.PermissionDenied) as refused:
        auth.require("reviewer", "change_taxonomy", "ana")
    assert str(refused.value) == "ana (reviewer) may not change the taxonomy; ask an admin for the admin role"
    with pytest.raises(auth.PermissionDenied, match="may not submit reviews; ask an admin for the reviewer role"):
        auth.require("seller", "review", "sam")


def test_key_roles_are_ordered_and_the_api_reads_the_same_table():
    assert keys.ROLES == roles.KEY_ROLES == ("viewer", "classify", "admin")
    assert roles.key_can("classify", "feedback") and not roles.key_can("classify", "monitor")
    assert roles.key_can("admin", "feedback_on_any")
    assert ENDPOINT_ROLES["/v1/monitor"] == "admin" and ENDPOINT_ROLES["/v1/classify"] == "classify"
    with pytest.raises(WorkbenchError, match="unknown key role 'seller'; use one of viewer, classify, admin"):
        roles.check_key_role("seller")


def test_every_person_role_can_be_given(tmp_path, monkeypatch):
    monkeypatch.setattr(auth, "BCRYPT_ROUNDS", 4)
    creds = tmp_path / "credentials.json"
    for role in roles.PERSON_ROLES:
        auth.add_user(creds, f"u_{role}", "long enough pw", role)
    assert {u["name"]: u["role"] for u in auth.list_users(creds)} == {f"u_{r}": r for r in roles.PERSON_ROLES}
