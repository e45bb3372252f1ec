"""``POST /api/v1/responses``: 201 stored, 200 already stored (same body), 4xx JSON errors."""

from __future__ import annotations

from flask import jsonify
from flask.wrappers import Response

from surveyapp.api import bp
from surveyapp.api.auth import authenticate
from surveyapp.api.body import read_json
from surveyapp.extensions import api_limits
from surveyapp.security import source_hash
from surveyapp.services import kiosk_ingest, submissions
from surveyapp.services.validation import SubmissionError, validate


@bp.errorhandler(SubmissionError)
def _submission_error(err: SubmissionError) -> tuple[Response, int]:
    response = jsonify(err.to_dict())
    if err.status == 401:
        response.headers["WWW-Authenticate"] = 'Kiosk realm="sipas"'
    return response, err.status


@bp.post("/responses")
@api_limits
def create_response() -> tuple[Response, int]:
    payload = read_json()
    digest = source_hash()
    fast = kiosk_ingest.try_store(payload, digest)  # a kiosk upload, in one statement
    if fast is not None:
        return jsonify(submissions.body(fast)), 201
    auth = authenticate(payload)
    sub = validate(payload, auth)
    response, created = submissions.store(sub, source_hash=digest)
    return jsonify(submissions.body(response)), 201 if created else 200
