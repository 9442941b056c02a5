"""A local ad platform with a customer-match audience API (Google/Meta-like), for testing activations.

Audiences belong to the server's Python API (`create_audience`); users to the HTTP API:

- `POST /v1/audiences/{audience_id}/users:add`
- `POST /v1/audiences/{audience_id}/users:remove`

both with `{"schema": ["EMAIL_SHA256", "PHONE_SHA256"], "data": [["<hex>", "<hex>"], ...]}`
(any non-empty selection of those identifiers, 10,000 rows at most, more is 413) and answered
`{"audience_id", "num_received", "num_invalid_entries", "invalid_entry_samples": [{"row", "reason"}]}`
(every invalid row is listed, by its index in `data`).

Every value must be the SHA-256 hex digest (64 lowercase hex characters) of the normalized
identifier, or "" when the row lacks it. A value that looks like raw personal data (has an `@`,
starts with `+`, or is a phone number's digits) fails the whole request with 400 and changes
nothing: raw PII must never leave the platform. Other bad rows (not hex, wrong length, no
identifier at all) are rejected one by one and the rest applies.

The audience stores each row as a tuple in the canonical schema order (email, phone), "" for a
missing identifier. Adding a stored row again changes nothing; a removal takes out every stored
row that shares one of its identifiers (platforms match users on any identifier). Every call
needs `Authorization: Bearer <token>` (401 otherwise); errors are Google's
`{"error": {"code", "message", "status"}}`; see `dlt_sources.sample_world.sandbox.base` for rate limits,
faults, idempotency keys and the request log.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from dlt_sources.sample_world.sandbox.base import ApiError, BearerAuthServer, Request

IDENTIFIERS = ("EMAIL_SHA256", "PHONE_SHA256")  # the canonical order of a stored row
ROWS_MAX = 10_000
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Digits with the punctuation phone numbers are written with: a raw phone number.
PHONE_DIGITS = re.compile(r"[\d\s().-]*\d[\d\s().-]*")
GRPC_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_PATH = re.compile(r"/v1/audiences/(?P<audience_id>[^/]+)/users:(?P<action>add|remove)")


def looks_like_raw_pii(value: str) -> bool:
    """True for an email address or a phone number sent as it is instead of hashed."""
    return "@" in value or value.startswith("+") or PHONE_DIGITS.fullmatch(value) is not None


class AdsServer(BearerAuthServer):
    """The customer-match API, with a Python API for tests to create audiences and read them."""

    def __init__(
        self, token: str, *, host: str = "127.0.0.1", port: int = 0, rate_limit: tuple[int, float] | None = None
    ) -> None:
        super().__init__(token, host=host, port=port, rate_limit=rate_limit)
        self._audiences: dict[str, set[tuple[str, ...]]] = {}

    # -- Python API -------------------------------------------------------------------------

    def create_audience(self, audience_id: str) -> None:
        """Creates an empty audience."""
        with self._state_lock:
            if audience_id in self._audiences:
                raise ValueError(f"audience {audience_id!r} exists already")
            self._audiences[audience_id] = set()

    def audience_members(self, audience_id: str) -> set[tuple[str, ...]]:
        """The stored rows, each (email hash, phone hash) with "" for a missing one (a copy)."""
        with self._state_lock:
            return set(self._audiences[audience_id])

    # -- HTTP API ---------------------------------------------------------------------------

    def error_body(self, error: ApiError) -> dict[str, Any]:
        status = GRPC_STATUSES.get(error.status) or HTTPStatus(error.status).name
        return {"error": {"code": error.status, "message": error.message, "status": status}}

    def route(self, request: Request) -> tuple[int, Any]:
        match = _PATH.fullmatch(request.path)
        if match is None:
            raise ApiError(404, f"no route for {request.method} {request.path}")
        audience_id = unquote(match["audience_id"])
        audience = self._audiences.get(audience_id)
        if audience is None:
            raise ApiError(404, f"audience {audience_id!r} not found")
        if request.method != "POST":
            raise ApiError(405, f"{request.method} is not allowed on {request.path}; use POST")
        rows, invalid, received = _parse_rows(request.body)
        if match["action"] == "add":
            audience.update(rows)
        else:
            removal = [{row[column] for row in rows} - {""} for column in range(len(IDENTIFIERS))]
            audience.difference_update(
                [stored for stored in audience if any(value in removal[column] for column, value in enumerate(stored))]
            )
        return 200, {
            "audience_id": audience_id,
            "num_received": received,
            "num_invalid_entries": len(invalid),
            "invalid_entry_samples": invalid,
        }


def _parse_rows(body: Any) -> tuple[list[tuple[str, ...]], list[dict[str, Any]], int]:
    """(valid rows in canonical order, invalid row reports, rows received); raises for a request
    that fails whole. Every value is checked for raw PII before anything is applied."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    schema, data = body.get("schema"), body.get("data")
    if not isinstance(schema, list) or not schema or any(item not in IDENTIFIERS for item in schema):
        raise ApiError(400, f"`schema` must be a non-empty list of {', '.join(IDENTIFIERS)}")
    if len(set(schema)) != len(schema):
        raise ApiError(400, "`schema` lists an identifier twice")
    if not isinstance(data, list):
        raise ApiError(400, "`data` must be a list of rows")
    if len(data) > ROWS_MAX:
        raise ApiError(413, f"at most {ROWS_MAX} rows per request, got {len(data)}")
    rows: list[tuple[str, ...]] = []
    invalid: list[dict[str, Any]] = []
    for index, row in enumerate(data):
        reason = _row_problem(index, schema, row)
        if reason is not None:
            invalid.append({"row": index, "reason": reason})
        else:
            values = dict(zip(schema, row, strict=True))
            rows.append(tuple(values.get(identifier, "") for identifier in IDENTIFIERS))
    return rows, invalid, len(data)


def _row_problem(index: int, schema: list[str], row: Any) -> str | None:
    """Why a row is invalid, or None; raises `ApiError(400)` for raw personal data anywhere in it."""
    if not isinstance(row, list):
        return "a row must be a list of values"
    problem = None
    for position, value in enumerate(row):
        identifier = schema[position] if position < len(schema) else f"value {position}"
        if isinstance(value, str) and value and not SHA256_HEX.fullmatch(value) and looks_like_raw_pii(value):
            raise ApiError(
                400,
                f"data[{index}] {identifier} looks like raw personal data; send the SHA-256 hex digest "
                "of the normalized value, never the value itself",
            )
        if problem is None:
            if not isinstance(value, str):
                problem = f"{identifier} must be a string"
            elif value and not SHA256_HEX.fullmatch(value):
                problem = f"{identifier} is not a SHA-256 digest (64 lowercase hex characters)"
    if len(row) != len(schema):
        return f"the row has {len(row)} values, the schema {len(schema)}"
    if problem is None and not any(row):
        return "the row has no identifier"
    return problem
