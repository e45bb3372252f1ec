"""Reading a device's JSON body, the same way for every API route.

Refused as ``invalid_json`` (400): bytes that are not UTF-8 JSON, nesting deeper than the
parser's recursion limit, and text holding a lone surrogate (a ``"\\ud800"`` escape). The last
parses as valid JSON but cannot be encoded as UTF-8, so SQLite and PostgreSQL both failed on
it when storing (a 500); one check here keeps every string the API hands on storable.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from flask_babel import gettext as _

from surveyapp.services.validation import SubmissionError


def read_json(empty: bytes | None = None) -> Any:
    """The decoded body; ``empty`` stands in for a missing body (None: a missing body is
    invalid JSON). Raises 415 unless the body is ``application/json``."""
    if request.mimetype != "application/json":
        raise SubmissionError(415, "unsupported_media_type", None,
                              _("Send the response as application/json."))
    raw = request.get_data(cache=False)
    if not raw and empty is not None:
        raw = empty
    try:
        value = json.loads(raw)
        # encodable as UTF-8, i.e. no lone surrogate anywhere (keys included)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeDecodeError/EncodeError are ValueErrors
        raise SubmissionError(400, "invalid_json", None,
                              _("The request body is not valid JSON.")) from None
    return value
