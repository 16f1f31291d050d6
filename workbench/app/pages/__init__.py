"""The dashboard pages: each module exposes ``TITLE``, ``ORDER`` and ``view(ctx)``.

Optional: ``RIGHT`` (the right of :mod:`workbench.security.roles` needed to open the page;
absent means ``view``).
:func:`workbench.app.template.discover_pages` finds every module here, so a new page is a new file.
"""
