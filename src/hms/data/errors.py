from __future__ import annotations


class DataError(ValueError):
    """Bad competition input. The message names the file, what is wrong, and how to fix it."""
