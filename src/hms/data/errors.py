from __future__ import annotations

from hms.errors import DataError

__all__ = ["DataError"]
