"""A webhook: each batch POSTed as one signed JSON delivery to a URL the receiver owns.

Body: `{"audience", "operation" ("upsert" | "remove"), "batch_id" (the idempotency key, also sent
as `Idempotency-Key`), "sent_at" (ISO 8601, UTC), "records": [{"customer_id", "operation"
("add" | "update" | "remove"), "fields"}]}`; for a removal, `fields` are the fields last sent and
`reason` says why (`exited`, `no_consent`, `identity_changed`, or `erased`: the person asked to
be forgotten, and the receiver should delete what it holds about them).

Signature: `X-CDP-Timestamp` is the Unix time in whole seconds and `X-CDP-Signature` is
`sha256=<hex HMAC-SHA256 of b"<timestamp>.<raw body>">` keyed with the shared secret (UTF-8
when text). Each attempt is signed afresh, so a retry late in a long backoff still falls
within the receiver's tolerance; the body, and so the batch, stays the same.

A 2xx answer acknowledges every record of the delivery. The URL's path and query never
appear in error messages (webhook URLs often carry a token).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from activations.destinations.base import HttpClient, HttpDestination, check_secret
from activations.engine import Change, RecordResult

TIMESTAMP_HEADER = "X-CDP-Timestamp"
SIGNATURE_HEADER = "X-CDP-Signature"


def signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The `X-CDP-Signature` value of `body` sent at `timestamp` (Unix seconds)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


class WebhookDestination(HttpDestination):
    MAX_BATCH_SIZE = 5_000
    PLATFORM = "webhook"

    def __init__(
        self,
        name: str,
        url: str,
        secret: str | bytes,
        *,
        batch_size: int = 500,
        clock: Callable[[], float] = time.time,
        **transport: Any,
    ) -> None:
        """`clock` gives the Unix time for `sent_at` and the signature's timestamp."""
        transport = self._setup(name, batch_size, transport)
        self._secret = check_secret(self.name, "secret", secret, allow_bytes=True)
        self.fields: frozenset[str] | None = None
        self.clock = clock
        self.http = HttpClient(self.name, url, {}, **transport, clock=clock, show_path=False)

    def send(self, audience: str, operation: str, changes: Sequence[Change], idempotency_key: str) -> list[RecordResult]:
        self._check_operation(operation)
        if not changes:
            return []
        delivery = {
            "audience": audience,
            "operation": operation,
            "batch_id": idempotency_key,
            "sent_at": datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(),
            "records": [{"customer_id": c.customer_id, "operation": c.operation, "fields": c.fields,
                         **({"reason": c.reason} if c.operation == "remove" else {})} for c in changes],
        }
        body = json.dumps(delivery, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str).encode()
        self.http.request("POST", "", data=body, idempotency_key=idempotency_key, sign=self._sign)
        return [RecordResult(c.customer_id, True) for c in changes]

    def _sign(self, body: bytes) -> dict[str, str]:
        timestamp = int(self.clock())
        return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(self._secret, timestamp, body)}
