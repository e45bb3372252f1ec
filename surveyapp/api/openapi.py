"""``GET /api/v1/openapi.json``: the API's OpenAPI 3.1 description, a data file in the package.

Kept by hand next to the views; ``tests/web/test_openapi.py`` validates it and fails when a
route under ``/api/v1`` is missing from it, so it cannot drift from ``app.url_map``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from flask import jsonify
from flask.wrappers import Response

from surveyapp.api import bp


@cache
def document() -> dict[str, Any]:
    """The parsed description (read once per process, on first use)."""
    return json.loads(files("surveyapp.api").joinpath("openapi.json").read_text("utf-8"))


@bp.get("/openapi.json")
def openapi() -> Response:
    response = jsonify(document())
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response
