"""The one exception type users see: a one-line message naming the problem and the fix."""


class WorkbenchError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""


def number_between(value, what: str, low: float, high: float, example: str) -> float:
    """``value`` as a float from ``low`` to ``high``; otherwise a :class:`WorkbenchError` that
    names ``what`` and gives ``example`` (for settings typed by users)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise WorkbenchError(f"{what} {value!r} is not a number; use e.g. {example}") from None
    if not low <= number <= high:
        raise WorkbenchError(f"{what} {number} must be between {low:g} and {high:g}, e.g. {example}")
    return number
