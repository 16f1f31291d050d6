"""The one role table: which role may do what, on the dashboards and through the HTTP API.

People log in to the dashboards with a role from the credentials file (``workbench users``);
other systems call the API with a key that carries a role (``workbench keys add NAME --role``).
Both look their rights up here, and later work adds rights to :data:`RIGHTS`, never a second
role system.

=========  ======  =====================================================================
role       kind    may
=========  ======  =====================================================================
viewer     person  view the dashboards
seller     person  classify their own products on the seller's page and answer back
reviewer   person  view, review, publish thresholds, promote runs
admin      person  everything a reviewer may, plus change the taxonomy and start a cycle
viewer     key     API health, model and taxonomy
classify   key     also classify and give feedback
admin      key     also the monitoring report, reload, feedback on any key's answers
=========  ======  =====================================================================
"""

from __future__ import annotations

from workbench.errors import WorkbenchError

#: roles a person may have, least to most rights (``seller`` stands apart: its own page only)
PERSON_ROLES = ("viewer", "seller", "reviewer", "admin")
#: roles an API key may have, each including what the one before it may do
KEY_ROLES = ("viewer", "classify", "admin")

#: right -> the person roles that hold it
RIGHTS: dict[str, frozenset[str]] = {
    "view": frozenset({"viewer", "reviewer", "admin"}),
    "review": frozenset({"reviewer", "admin"}),
    "publish": frozenset({"reviewer", "admin"}),
    "promote": frozenset({"reviewer", "admin"}),
    "sell": frozenset({"seller", "reviewer", "admin"}),
    "change_taxonomy": frozenset({"admin"}),
    "run_cycle": frozenset({"admin"}),
    "manage_users": frozenset({"admin"}),
}

#: right -> the words of a refusal ("… may not <words>")
RIGHT_WORDS = {
    "view": "view the dashboards", "review": "submit reviews", "publish": "publish thresholds",
    "promote": "promote a run or choose the shadow run", "sell": "use the seller's page",
    "change_taxonomy": "change the taxonomy", "run_cycle": "start a retraining cycle",
    "manage_users": "manage users",
}

#: right -> the least key role that holds it (key roles are ordered)
KEY_RIGHTS = {"api_read": "viewer", "classify": "classify", "feedback": "classify",
              "monitor": "admin", "reload": "admin", "feedback_on_any": "admin"}


def check_person_role(role: str) -> str:
    """A known person role, or one clear error naming the choices."""
    if role not in PERSON_ROLES:
        raise WorkbenchError(f"unknown role {role!r}; use one of {', '.join(PERSON_ROLES)}")
    return role


def check_key_role(role: str) -> str:
    """A known API key role, or one clear error naming the choices."""
    if role not in KEY_ROLES:
        raise WorkbenchError(f"unknown key role {role!r}; use one of {', '.join(KEY_ROLES)}")
    return role


def person_can(role: str | None, right: str) -> bool:
    """Whether a person with ``role`` holds ``right`` (``view``, ``review``, ``change_taxonomy`` …)."""
    if right not in RIGHTS:
        raise WorkbenchError(f"unknown right {right!r}; use one of {', '.join(RIGHTS)}")
    return role in RIGHTS[right]


def key_role_includes(key_role: str, needed: str) -> bool:
    """Whether an API key of ``key_role`` includes the key role ``needed`` (roles are ordered)."""
    return KEY_ROLES.index(check_key_role(key_role)) >= KEY_ROLES.index(check_key_role(needed))


def key_can(key_role: str, right: str) -> bool:
    """Whether an API key of ``key_role`` holds the API ``right`` (``classify``, ``monitor`` …)."""
    if right not in KEY_RIGHTS:
        raise WorkbenchError(f"unknown API right {right!r}; use one of {', '.join(KEY_RIGHTS)}")
    return key_role_includes(key_role, KEY_RIGHTS[right])


def least_role_with(right: str) -> str:
    """The person role with the fewest rights that holds ``right`` (named in refusals)."""
    person_can(None, right)
    return next(role for role in PERSON_ROLES if role in RIGHTS[right])
