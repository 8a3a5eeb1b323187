"""The exception types for bad input: the CLI prints the message on one line and exits 2."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user (a name, a number, a path). The message names the problem and the fix."""


class RunInProgress(UsageError):
    """Another live process holds the run's lock (benchmark.runstore.RunLock): the CLI refuses in
    one line, and a sweep skips the run instead of failing it."""
