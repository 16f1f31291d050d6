"""The part every page state that writes shares: the workspace, who is at the screen (their
``role`` of the one role table, :mod:`workbench.security.roles`), the server-side check of the
page's right before every write (``authorize``: the served app passes ``AppContext.require``),
and the last outcome (``message``, ``message_kind``, ``version`` bumped after each write)."""

from __future__ import annotations

import param

from workbench.security.auth import require
from workbench.store import Workspace


class AuthorizedState(param.Parameterized):
    """Base of a writing page state: subclasses set ``RIGHT`` (the right a write needs) and
    ``ACTOR`` (the name of their parameter that holds who writes)."""

    RIGHT = "view"
    ACTOR = "actor"

    workspace = param.ClassSelector(class_=Workspace, constant=True)
    role = param.String(default="viewer")
    authorize = param.Callable(default=None, allow_None=True,
                               doc="raises PermissionDenied unless the session may write now (the served app "
                                   "passes AppContext.require); without it ``role`` decides")
    version = param.Integer(default=0, doc="bumped after every write made here")
    message = param.String(default="")
    message_kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"])

    def _check_may_write(self) -> None:
        """Refuse (PermissionDenied) unless the session holds ``RIGHT`` now."""
        if self.authorize is not None:
            self.authorize(self.RIGHT)
        else:
            require(self.role, self.RIGHT, getattr(self, self.ACTOR))
