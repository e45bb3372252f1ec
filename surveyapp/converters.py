"""URL converters: ``<int:...>`` bounded to what a database integer column holds.

Werkzeug's ``int`` takes any number of digits; ``/runs/9223372036854775808`` then reached the
query and failed inside the driver (SQLite OverflowError, PostgreSQL "out of range") as a 500.
Bounded here, such a URL simply does not match: a 404 like any other unknown id.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

#: The largest value of a 32-bit signed INTEGER column (PostgreSQL ``integer``).
DB_INT_MAX = 2**31 - 1


class DbIntConverter(IntegerConverter):
    """``int`` with a default maximum of ``DB_INT_MAX`` (a rule may still pass its own)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", DB_INT_MAX)
        super().__init__(map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Install before any blueprint is registered: rules bind their converter when added."""
    app.url_map.converters["int"] = DbIntConverter
