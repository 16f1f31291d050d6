"""The dashboards' one stylesheet (``workbench/app/static/workbench.css``), read once.

Panel draws every component in its own shadow root, so a page hands :data:`STYLESHEET` to each
component that shows the workbench's HTML or tables (``stylesheets=[STYLESHEET]``); no module
keeps CSS of its own.
"""

from __future__ import annotations

from pathlib import Path

CSS_FILE = Path(__file__).resolve().parent / "static" / "workbench.css"

#: the whole stylesheet as text
STYLESHEET = CSS_FILE.read_text(encoding="utf-8")
