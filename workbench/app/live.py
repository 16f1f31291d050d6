"""Open pages follow the workspace: a session notices other processes' writes and refreshes.

Every write transaction of any process (a ``workbench train`` from the command line, a review
in a notebook) rewrites the workspace's change counter file (:meth:`Workspace.change_counter`),
which costs nothing to read. Each browser session looks at it every ``interval`` seconds; when
it moved, it reads the pages' stamps (one short turn on the database) and bumps the parameters of
the session's :class:`WorkspaceNews`: ``writes`` after any write, ``runs`` when a run completed or
was (re-)evaluated, ``published`` when thresholds were published. Pages bind their views to these
parameters (``pn.bind``), so the page on screen follows in place (a new run joins every run
picker, tables and counts are read again, an item reviewed elsewhere leaves the review page and
the bulk grid) without losing what the visitor typed or picked.
"""

from __future__ import annotations

import logging
from typing import Callable

import param

from workbench.store import Workspace

log = logging.getLogger("workbench.app")

#: seconds between two looks at the change counter
INTERVAL = 2.0


def runs_stamp(ws: Workspace) -> str:
    """Changes whenever a run completes or is (re-)evaluated."""
    row = ws.rows("SELECT (SELECT count(*) FROM runs WHERE coalesce(complete, TRUE)), "
                  "(SELECT count(*) FROM evaluations), (SELECT max(evaluated_at) FROM evaluations)")[0]
    return "|".join(map(str, row))


def published_stamp(ws: Workspace) -> str:
    """Changes whenever thresholds are published (in another tab, a notebook or the command line)."""
    return str(ws.scalar("SELECT max(version) FROM threshold_history"))


def pages_stamp(ws: Workspace) -> str:
    """Changes whenever what the pages are built from changes: a run completes or is (re-)evaluated,
    or thresholds are published."""
    with ws.hold():
        return runs_stamp(ws) + "|" + published_stamp(ws)


class WorkspaceNews(param.Parameterized):
    """What one browser session knows of the workspace's writes (its own and other processes'):
    counters that pages bind their views to, so that the page on screen follows in place."""

    writes = param.Integer(default=0, doc="bumped after any write of any process (a review, a label)")
    runs = param.Integer(default=0, doc="bumped when a run completed or was (re-)evaluated")
    published = param.Integer(default=0, doc="bumped when thresholds were published")


class WorkspaceWatch:
    """Bumps ``news`` (a :class:`WorkspaceNews`) when the workspace changed, then calls
    ``on_runs_changed`` (if given) when a run completed or was evaluated or thresholds were
    published (the navigator forgets the pages that are not on screen)."""

    def __init__(self, ws: Workspace, news: WorkspaceNews, on_runs_changed: Callable[[], None] | None = None):
        self.ws = ws
        self.news = news
        self.on_runs_changed = on_runs_changed
        self.counter = ws.change_counter()
        with ws.hold():
            self.runs, self.published = runs_stamp(ws), published_stamp(ws)

    def check(self) -> bool:
        """Look once; returns whether runs or published thresholds changed."""
        counter = self.ws.change_counter()
        if counter == self.counter:
            return False
        self.counter = counter
        with self.ws.hold():
            runs, published = runs_stamp(self.ws), published_stamp(self.ws)
        news = {"writes": self.news.writes + 1}
        if runs != self.runs:
            news["runs"] = self.news.runs + 1
        if published != self.published:
            news["published"] = self.news.published + 1
        self.runs, self.published = runs, published
        moved = len(news) > 1
        if moved and self.on_runs_changed is not None:
            self.on_runs_changed()  # before the pages on screen follow: the others are forgotten first
        self.news.param.update(**news)
        return moved

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
