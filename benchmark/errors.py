"""The one exception type for bad input: the CLI prints its message on one line and exits 2."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (a name, a number, a path). The message names the problem and the fix."""
