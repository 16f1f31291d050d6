"""One template with navigation over every page module in :mod:`workbench.app.pages`.

Pages are discovered with ``pkgutil`` and ordered by ``ORDER``; a page is built the first time a
session opens it and kept for that session (per-session state). The open page is mirrored in the
URL (``?page=thresholds``), so a page can be linked to and survives a reload.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from types import ModuleType

import panel as pn

import workbench.app.pages
from workbench.security.auth import LOCAL_USER
from workbench.app.context import AppContext
from workbench.app.live import WorkspaceWatch
from workbench.security.safe_text import escape_markdown
from workbench.app.widgets import guarded

ACCENT = "#1f5f8b"
DISCONNECTED = ("The connection to the dashboards server was lost (it may have restarted). Reload the page "
                "to go on; every decision you saw confirmed is saved.")

#: Held while a page renders off-screen. HoloViews' plotting is not thread-safe: the warm-up (a
#: background thread) and a visitor's page (the server's event loop) must never render together.
RENDERING = threading.Lock()


def discover_pages() -> list[ModuleType]:
    """Every module in :mod:`workbench.app.pages` with ``TITLE``, ``ORDER`` and ``view``, by ``ORDER``
    (optional: ``RIGHT``, the right of the one role table needed to open it, default ``view``; ``WARM = True``, rendered once at server start)."""
    pages = []
    for info in pkgutil.iter_modules(workbench.app.pages.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"workbench.app.pages.{info.name}")
        if all(hasattr(module, a) for a in ("TITLE", "ORDER", "view")):
            pages.append(module)
    return sorted(pages, key=lambda m: (m.ORDER, m.TITLE))


def page_slug(module: ModuleType) -> str:
    """The URL name of a page: its module name (``workbench.app.pages.thresholds`` -> ``thresholds``)."""
    return module.__name__.rsplit(".", 1)[-1]


def visible_pages(ctx: AppContext) -> list[ModuleType]:
    """The pages this session's role may open: a page's ``RIGHT`` (default ``view``) in the one
    role table (:mod:`workbench.security.roles`), so a seller sees only the seller's page."""
    from workbench.security.roles import person_can

    return [p for p in discover_pages() if person_can(ctx.role, getattr(p, "RIGHT", "view"))]


class Navigator:
    """The per-session page switcher: builds pages lazily and keeps them for the session."""

    def __init__(self, ctx: AppContext, pages: list[ModuleType], first: str | None = None):
        self.ctx = ctx
        self.pages = {page_slug(p): p for p in pages}
        self.built: dict[str, object] = {}
        self.content = pn.Column(sizing_mode="stretch_width", css_classes=["wb-content"])
        options = {p.TITLE: slug for slug, p in self.pages.items()}
        if first not in self.pages:
            first = next(iter(self.pages), None)
        self.menu = pn.widgets.RadioButtonGroup(options=options, value=first, orientation="vertical",
                                                color="primary", variant="outline",
                                                sizing_mode="stretch_width", css_classes=["wb-nav"])
        pn.bind(self.show, self.menu, watch=True)
        if first is not None:
            self.show(first)

    def page(self, slug: str):
        """The page object of ``slug`` (built on first use)."""
        if slug not in self.built:
            module = self.pages[slug]
            self.built[slug] = guarded(lambda: module.view(self.ctx))
        return self.built[slug]

    def show(self, slug: str) -> None:
        """Put page ``slug`` in the main area."""
        if slug in self.pages:
            self.content.objects = [self.page(slug)]

    def refresh(self) -> None:
        """A run was trained or evaluated, or thresholds published. Pages follow in place: they
        bind their views to ``ctx.news``, so the page on screen shows the news while the visitor's
        input stays. A page that cannot (an empty state such as "no evaluated runs yet", which
        holds no input) is built again: at once when on screen, else when next opened."""
        current = self.menu.value
        stale = [slug for slug, page in self.built.items() if not follows(page)]
        for slug in stale:
            del self.built[slug]
        if current in stale:
            self.show(current)


def follows(page) -> bool:
    """Whether a built page follows the workspace in place (a page view sets ``follows = True``
    on its layout); empty states and error messages do not."""
    return bool(getattr(page, "follows", False))


def warm_pages(ctx: AppContext, visited: threading.Event | None = None) -> list[str]:
    """Render every page that sets ``WARM = True`` once, off-screen, so that one-time costs
    (imports, shared caches, datashader's compilation) are paid before the first visitor; stops
    once ``visited`` is set (see :func:`visitor_arrives`). Returns the slugs rendered."""
    from bokeh.document import Document

    done = []
    for module in visible_pages(ctx):
        if getattr(module, "WARM", False):
            with RENDERING:
                if visited is not None and visited.is_set():
                    break
                module.view(ctx).get_root(Document())
            done.append(page_slug(module))
    return done


def visitor_arrives(visited: threading.Event) -> None:
    """Called as a session builds its app: waits for the page being warmed to finish and stops the
    warm-up of ``visited``, so that the visitor's page never renders beside it."""
    with RENDERING:
        visited.set()


def requested_page() -> str | None:
    """The ``?page=`` of this session's URL, so that only the page asked for is built."""
    args = pn.state.session_args or {}
    values = args.get("page") or []
    return values[0].decode("utf-8", "replace") if values else None


def language_select(ctx: AppContext) -> pn.widgets.Select:
    """The sidebar's choice of the language category names are shown in (Shopify's 21
    languages; a category without a translation, or not Shopify's, keeps its own name)."""
    from workbench.catalog.category_names import LANGUAGE_NAMES, available_languages

    options = {LANGUAGE_NAMES.get(code, code): code for code in available_languages()}
    select = pn.widgets.Select(label="Category names in", options=options, value=ctx.preferences.language,
                               sizing_mode="stretch_width", css_classes=["wb-language"])
    select.link(ctx.preferences, value="language")
    return select


def build_app(ctx: AppContext) -> pn.template.BootstrapTemplate:
    """The whole dashboard for one session: sidebar navigation plus the open page."""
    pn.extension("tabulator", "filedropper", notifications=True, reconnect=True, sizing_mode="stretch_width",
                 disconnect_notification=DISCONNECTED)
    nav = Navigator(ctx, visible_pages(ctx), first=requested_page())
    WorkspaceWatch(ctx.workspace, ctx.news, nav.refresh).start()
    if pn.state.location is not None:
        pn.state.location.sync(nav.menu, {"value": "page"})
    who = (f"Signed in as **{escape_markdown(ctx.user)}** ({ctx.role})" if ctx.user and ctx.user != LOCAL_USER
           else "")
    sidebar = [pn.pane.Markdown("### Views"), nav.menu, language_select(ctx)]
    if who:
        sidebar.append(pn.pane.Markdown(who + " · [Log out](./logout)", css_classes=["wb-who"]))
    # the name only: the server's folders are nobody's business in a browser
    sidebar.append(pn.pane.Markdown(f"<small>Workspace: {escape_markdown(ctx.workspace.path.name)}</small>",
                                    css_classes=["wb-workspace"]))
    # Bootstrap, not Fast: the Fast design pulls a web font from Google, and the app must work offline
    template = pn.template.BootstrapTemplate(
        title=ctx.settings.title, sidebar=sidebar, main=[nav.content], header_background=ACCENT,
        sidebar_width=280)
    template.navigator = nav  # tests and the review helper can reach the session's pages
    return template
