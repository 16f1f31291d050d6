"""Catalog and user text on a page, made inert: the one place every page goes through.

Titles, descriptions, brands, category names and file names come from sellers and users; a
title such as ``<img src=x onerror=...>`` must show as text, never run. Use
:func:`escape_html` for text placed in HTML (an ``HTML`` pane, a table cell, an attribute) and
:func:`escape_markdown` for text placed in a ``Markdown`` or ``Alert`` pane (which would pass
both HTML and Markdown links through). Bokeh's ``MultiChoice`` shows its option labels as HTML
(Choices.js): give it :func:`choice_options`.
"""

from __future__ import annotations

import html
import re
from typing import Any, Iterable, Mapping

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def escape_html(value: Any) -> str:
    """``value`` as text for HTML content or a quoted attribute (``<`` ``>`` ``&`` ``"`` ``'``)."""
    return html.escape(_text(value), quote=True)


def escape_markdown(value: Any) -> str:
    """``value`` as literal text inside Markdown: no HTML, no links, no emphasis."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(_text(value), quote=False))


def markdown_code(value: Any) -> str:
    """``value`` as inline code inside Markdown (``<code>``, escaped): a Markdown code span would
    show the backslashes of :func:`escape_markdown` and the entities of :func:`escape_html`."""
    return f"<code>{escape_html(value)}</code>"


def choice_options(options: Mapping[str, Any] | Iterable[str]) -> dict[str, Any]:
    """``{label: value}`` options with the labels escaped, for widgets that render labels as
    HTML (``pn.widgets.MultiChoice``); the values, which the code receives, stay as they are."""
    pairs = options.items() if isinstance(options, Mapping) else ((o, o) for o in options)
    return {escape_html(label): value for label, value in pairs}
