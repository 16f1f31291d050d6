"""What every page receives: the workspace, the session's user and role, and shared settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import param

from workbench.app.live import WorkspaceNews
from workbench.errors import WorkbenchError
from workbench.security.upload_limits import UploadLimits
from workbench.store import Workspace

from workbench.security.roles import person_can


@dataclass(frozen=True)
class AppSettings:
    """Settings shared by all sessions of one served app.

    ``upload_limit_mb``: largest CSV accepted on the classify page; ``max_upload_rows``: most
    rows classified from one upload; ``upload_limits``: columns, line length, cells and seconds of
    one upload (checked off the event loop); ``part``: which predictions the pages show (``test`` or
    ``valid``); ``roles``: user name -> role (of :mod:`workbench.security.roles`); ``None`` means no
    login, and the local user is an admin. ``session_check``: whether the
    current browser session is still signed in (``False`` once it logged out), asked before
    every write.
    """

    upload_limit_mb: float = 10.0
    max_upload_rows: int = 100_000
    part: str = "test"
    title: str = "Product categorization workbench"
    roles: Mapping[str, str] | None = None
    default_role: str = "viewer"
    session_check: Callable[[], bool] | None = None
    extra: Mapping[str, object] = field(default_factory=dict)
    upload_limits: UploadLimits = field(default_factory=UploadLimits)

    def __post_init__(self):
        if not self.upload_limit_mb > 0:
            raise WorkbenchError(f"upload limit {self.upload_limit_mb} MB must be positive, e.g. 10")
        if self.max_upload_rows < 1:
            raise WorkbenchError(f"max upload rows {self.max_upload_rows} must be at least 1")
        if self.part not in ("test", "valid"):
            raise WorkbenchError(f"part {self.part!r} must be 'test' or 'valid'")

    @property
    def upload_limit_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.upload_limit_mb * 1024 * 1024)


class Preferences(param.Parameterized):
    """One session's display choices that every page follows: the language category names
    are shown in (Shopify's names, English fallback) and the languages a category search
    matches besides it."""

    language = param.String(default="en", doc="display language of category names")
    search_languages = param.List(default=["en"], item_type=str, doc="languages a category search matches")

    def languages(self) -> list[str]:
        """The display language, then the search languages."""
        return list(dict.fromkeys([self.language, *self.search_languages]))


@dataclass
class AppContext:
    """Handed to every page's ``view(ctx)``: one per browser session."""

    workspace: Workspace
    settings: AppSettings = field(default_factory=AppSettings)
    user_override: str | None = None
    preferences: Preferences = field(default_factory=Preferences)
    #: the workspace's writes as this session learns of them; pages bind their views to it
    news: WorkspaceNews = field(default_factory=WorkspaceNews)

    @property
    def user(self) -> str | None:
        """The logged-in user of this session (``pn.state.user``), ``None`` without login."""
        if self.user_override is not None:
            return self.user_override
        import panel as pn

        return pn.state.user

    @property
    def role(self) -> str:
        """The session's role (:mod:`workbench.security.roles`); without login (no ``roles``) the
        local user is an admin."""
        if self.settings.roles is None:
            return "admin"
        return self.settings.roles.get(self.user or "", self.settings.default_role)

    def require(self, action: str) -> None:
        """Refuse (:class:`workbench.security.auth.PermissionDenied`) unless this session may do
        ``action`` (``review``, ``publish``) *now*: the role is read again from the credentials
        file at every call, so a user removed or downgraded since the page opened is refused at
        the next write, in tabs that are already open too; so is a session that logged out."""
        from workbench.security.auth import PermissionDenied, require

        if self.settings.roles is not None and self.user_override is None:
            user = self.user
            if self.settings.session_check is not None and not self.settings.session_check():
                raise PermissionDenied(f"{user or 'this session'} has logged out; log in again")
            open_door = getattr(self.settings.roles, "open_while_empty", False)  # no users added yet
            if (not user and not open_door) or user not in self.settings.roles:
                if open_door and user in (None, "", "local"):
                    # a tab opened before the first user was added
                    raise PermissionDenied("this workbench now asks for a login: reload the page and log in")
                raise PermissionDenied(f"{user or 'an anonymous visitor'} is no longer a user of this "
                                       "workbench; ask an admin to add you again")
        require(self.role, action, self.actor)

    @property
    def can_publish(self) -> bool:
        """Whether this session may publish thresholds."""
        return person_can(self.role, "publish")

    def may(self, right: str) -> bool:
        """Whether this session's role holds ``right`` (for showing or greying a control; writes
        still call :meth:`require`)."""
        return person_can(self.role, right)

    @property
    def actor(self) -> str:
        """The name recorded as the author of a change."""
        return self.user or "local"
