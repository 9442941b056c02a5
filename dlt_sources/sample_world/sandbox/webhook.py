"""A local webhook receiver, for testing the platform's webhook destination.

- `POST /hooks/{name}` with a JSON body -> 200 `{"id": "dlv_<n>", "name": name}`; each accepted
  delivery is stored, in order, with its parsed body and headers (`deliveries(name)`).

Signing scheme (shared with the platform's webhook client through `sign`): the sender puts the
current Unix time in seconds in `X-CDP-Timestamp` and
`sha256=<hex HMAC-SHA256 of b"<timestamp>.<raw body>" keyed with the shared secret>` in
`X-CDP-Signature`, where `<timestamp>` is the header's decimal text and `<raw body>` the exact
bytes sent. The receiver answers 401 when either header is missing or malformed, the signature
does not match, or the timestamp is more than `tolerance` (300) seconds from its clock (a
captured delivery cannot be replayed later). The signature covers the timestamp, so both are
checked together. See `dlt_sources.sample_world.sandbox.base` for rate limits, faults, idempotency keys
(a redelivery under a key already accepted is not stored twice) and the request log.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from dlt_sources.sample_world.sandbox.base import LOGGED_HEADERS, ApiError, Request, SandboxServer

TIMESTAMP_HEADER = "X-CDP-Timestamp"
SIGNATURE_HEADER = "X-CDP-Signature"
TOLERANCE_SECONDS = 300
_PATH = re.compile(r"/hooks/(?P<name>[^/]+)")


def sign(secret: bytes | str, timestamp: int, body: bytes) -> str:
    """The `X-CDP-Signature` value for `body` sent at `timestamp`: `sha256=` and the hex
    HMAC-SHA256, keyed with `secret` (UTF-8 when text), of `f"{timestamp}.".encode() + body`."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass(frozen=True)
class Delivery:
    """One accepted delivery."""

    name: str
    body: Any  # the parsed JSON body
    headers: dict[str, str]  # every request header
    received_at: float  # Unix seconds


class WebhookServer(SandboxServer):
    """The receiver, verifying signatures made with `secret`; a Python API reads what it accepted."""

    logged_headers = (*LOGGED_HEADERS, TIMESTAMP_HEADER, SIGNATURE_HEADER)

    def __init__(
        self,
        secret: bytes | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: tuple[int, float] | None = None,
        tolerance: int = TOLERANCE_SECONDS,
    ) -> None:
        super().__init__(host=host, port=port, rate_limit=rate_limit)
        self.secret = secret
        self.tolerance = tolerance
        self._deliveries: list[Delivery] = []

    def deliveries(self, name: str) -> list[Delivery]:
        """The deliveries accepted on `/hooks/{name}`, oldest first."""
        with self._state_lock:
            return [delivery for delivery in self._deliveries if delivery.name == name]

    def authenticate(self, request: Request) -> None:
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        signature = request.headers.get(SIGNATURE_HEADER)
        if timestamp is None or signature is None:
            raise ApiError(401, f"the {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers are required")
        if not re.fullmatch(r"\d+", timestamp):
            raise ApiError(401, f"{TIMESTAMP_HEADER} must be Unix seconds, got {timestamp!r}")
        if not hmac.compare_digest(signature.encode(), sign(self.secret, int(timestamp), request.raw).encode()):
            raise ApiError(401, "the signature does not match the body and timestamp")
        if abs(time.time() - int(timestamp)) > self.tolerance:
            raise ApiError(401, f"the timestamp is more than {self.tolerance} seconds from the receiver's clock")

    def error_body(self, error: ApiError) -> dict[str, Any]:
        return {"status": error.status, "error": error.message}

    def route(self, request: Request) -> tuple[int, Any]:
        match = _PATH.fullmatch(request.path)
        if match is None:
            raise ApiError(404, f"no route for {request.method} {request.path}")
        if request.method != "POST":
            raise ApiError(405, f"{request.method} is not allowed on {request.path}; use POST")
        if not request.raw:
            raise ApiError(400, "a delivery needs a JSON body")
        name = unquote(match["name"])
        self._deliveries.append(Delivery(name, request.body, dict(request.headers.items()), time.time()))
        return 200, {"id": f"dlv_{len(self._deliveries)}", "name": name}
