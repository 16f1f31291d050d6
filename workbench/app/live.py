"""Open pages follow the workspace: a session notices other processes' writes and refreshes.

Every write transaction of any process (a ``workbench train`` from the command line, a review
in a notebook) rewrites the workspace's change counter file (:meth:`Workspace.change_counter`),
which costs nothing to read. Each browser session looks at it every ``interval`` seconds; when
it moved, it tells the pages that follow every write (the review page: an item reviewed elsewhere leaves
it, its counts move) and reads the pages' stamp (one short turn on the database); when a run was
added or (re-)evaluated, or thresholds were published, it rebuilds its open pages, so a new run
appears in every picker, and published thresholds in every tab, within a few seconds.
"""

from __future__ import annotations

import logging
from typing import Callable

from workbench.store import Workspace

log = logging.getLogger("workbench.app")

#: seconds between two looks at the change counter
INTERVAL = 2.0


def runs_stamp(ws: Workspace) -> str:
    """Changes whenever a run completes or is (re-)evaluated."""
    row = ws.rows("SELECT (SELECT count(*) FROM runs WHERE coalesce(complete, TRUE)), "
                  "(SELECT count(*) FROM evaluations), (SELECT max(evaluated_at) FROM evaluations)")[0]
    return "|".join(map(str, row))


def pages_stamp(ws: Workspace) -> str:
    """Changes whenever what the pages are built from changes: a run completes or is (re-)evaluated,
    or thresholds are published (in another tab, a notebook or the command line)."""
    return runs_stamp(ws) + "|" + str(ws.scalar("SELECT max(version) FROM threshold_history"))


class WorkspaceWatch:
    """Calls ``on_runs_changed`` when another process completed or evaluated a run or published
    thresholds, and ``on_change`` (if given) after any write of any process (a review elsewhere)."""

    def __init__(self, ws: Workspace, on_runs_changed: Callable[[], None],
                 on_change: Callable[[], None] | None = None):
        self.ws = ws
        self.on_runs_changed = on_runs_changed
        self.on_change = on_change
        self.counter = ws.change_counter()
        self.stamp = pages_stamp(ws)

    def check(self) -> bool:
        """Look once; returns whether the pages were rebuilt."""
        counter = self.ws.change_counter()
        if counter == self.counter:
            return False
        self.counter = counter
        if self.on_change is not None:
            self.on_change()
        stamp = pages_stamp(self.ws)
        if stamp == self.stamp:
            return False
        self.stamp = stamp
        self.on_runs_changed()
        return True

    def start(self, interval: float = INTERVAL) -> None:
        """Look every ``interval`` seconds for as long as this browser session lives."""
        import panel as pn

        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            return  # not a served session (a test building pages off-screen)

        def safely() -> None:
            try:
                self.check()
            except Exception:  # a busy workspace: look again next time
                log.exception("looking for other processes' writes failed")

        pn.state.add_periodic_callback(safely, period=int(interval * 1000))
