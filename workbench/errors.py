"""The one exception type users see: a one-line message naming the problem and the fix."""


class WorkbenchError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""
