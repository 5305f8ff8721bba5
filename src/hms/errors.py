"""The errors a user can cause and fix: every command reports them as one ``error: ...`` line and exit code 2, never
a traceback. Each message names the file (or setting) and the fix."""

from __future__ import annotations


class HmsError(ValueError):
    """A problem with what the user gave (a file, a path, a setting), not a bug."""


class DataError(HmsError):
    """Bad competition input or a bad saved file. The message names the file, what is wrong, and how to fix it."""


class OutputError(HmsError):
    """An output path that must not be written: one of the run's inputs, a device, a folder, a name that leaves its
    root."""
