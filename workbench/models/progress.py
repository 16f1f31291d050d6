"""How training shows its progress: a bar on a terminal, one line per epoch or round in a log.

Every family's ``progress`` parameter means the same: ``None`` (default) draws a tqdm bar when
standard error is a terminal and otherwise writes **one line per epoch or boosting round** to
standard error, flushed at once (so a log written by ``workbench train > log 2>&1``, a CI job or
a notebook cell shows each step as it ends, not 52 minutes of silence); ``True`` or ``"bar"``
always draws the bar, ``"lines"`` always writes lines, ``False`` shows nothing.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping

MODES = ("bar", "lines", "off")


def progress_mode(progress: Any) -> str:
    """``"bar"``, ``"lines"`` or ``"off"`` for a ``progress`` parameter (see the module docstring)."""
    if progress is None:
        stream = sys.stderr
        return "bar" if stream is not None and stream.isatty() else "lines"
    if progress is True:
        return "bar"
    if progress is False:
        return "off"
    if progress in MODES:
        return str(progress)
    from workbench.errors import WorkbenchError

    raise WorkbenchError(f"progress must be None, True, False, 'bar', 'lines' or 'off'; got {progress!r}")


def format_value(name: str, value: Any) -> str:
    """One metric as text: learning rates in scientific notation, other floats to 4 decimals."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} {value}"
    if name == "lr":
        return f"{name} {value:.2e}"
    if isinstance(value, int):
        return f"{name} {value}"
    return f"{name} {value:.4f}"


def progress_line(label: str, step: str, metrics: Mapping[str, Any] | None = None,
                  seconds: float | None = None, note: str = "") -> str:
    """Write ``"<label> <step>: name value ... (12.3 s, note)"`` to standard error and flush;
    returns the line."""
    parts = [format_value(k, v) for k, v in (metrics or {}).items()]
    tail = ", ".join(filter(None, [f"{seconds:.1f} s" if seconds is not None else "", note]))
    line = f"{label} {step}: " + "  ".join(parts) + (f"  ({tail})" if tail else "")
    stream = sys.stderr
    if stream is not None:
        print(line, file=stream, flush=True)
    return line
