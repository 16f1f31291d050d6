"""The dashboard pages: each module exposes ``TITLE``, ``ORDER`` and ``view(ctx)``.

Optional: ``ROLES`` (a tuple of roles that may open the page; absent means everyone).
:func:`workbench.app.template.discover_pages` finds every module here, so a new page is a new file.
"""
