"""What the sandbox destinations share: HTTP plumbing, auth, rate limits, faults, a request log, idempotency.

Each sandbox server is a `SandboxServer` subclass that says how a request is authenticated
(`authenticate`), what it does (`route`) and what its errors look like (`error_body`). The base
answers every request through the same steps, in this order:

1. authentication (401 otherwise; a bearer token for `BearerAuthServer`s);
2. the configured rate limit, a rolling window of `max_requests` per `per_seconds`
   (429 with `Retry-After` in whole seconds);
3. injected faults (`Faults`): a delay, then an injected error status (the request is not applied);
4. idempotency: a request whose `Idempotency-Key` (same method and path) was already answered
   with a 2xx gets that stored answer again, with `Idempotent-Replayed: true`, and is not applied;
5. the request itself (`route`), under the server's state lock, so state changes are serialized;
6. an injected drop: the connection is closed without an answer, after the work is done.

Every request received is logged (`RequestLog`) before its answer is written, so a test that
has its answer can already read its log entry.
"""

from __future__ import annotations

import ipaddress
import json
import math
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from dlt_sources.sample_world.crm_server import RateLimiter

# Request headers kept in the log (the Authorization header is not: it holds a secret).
LOGGED_HEADERS = ("Content-Type", "User-Agent", "Idempotency-Key")


class ApiError(Exception):
    """An error answered to the client; each server renders it in its own shape (`error_body`)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class Request:
    """One request as the server's `route` sees it."""

    method: str
    path: str  # the URL path, without the query string
    query: dict[str, str]  # the last value of each query parameter
    headers: Message
    raw: bytes
    body: Any  # the parsed JSON body; None when the body is empty or not JSON
    json_error: str | None  # why the body is not JSON, if it is not

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key") or None


@dataclass(frozen=True)
class LoggedRequest:
    """One request received, and what became of it."""

    method: str
    path: str  # as requested, query string included
    headers: dict[str, str]  # the headers of interest that were present
    body: Any  # the parsed JSON body, or None
    idempotency_key: str | None
    status: int  # the answer's status (for a dropped request, the status it would have had)
    time: float  # when it was received, in Unix seconds
    replayed: bool = False  # answered from the idempotency store, not applied again
    dropped: bool = False  # the connection was closed without an answer
    injected: tuple[str, ...] = ()  # the injected faults it met: delay, fail, rate_limit, drop


class RequestLog:
    """A thread-safe, append-only log of the requests a server received, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def append(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __getitem__(self, index: int) -> LoggedRequest:
        with self._lock:
            return self._entries[index]

    def __iter__(self) -> Iterator[LoggedRequest]:
        """Iterates over a snapshot, so requests arriving meanwhile do not disturb the loop."""
        with self._lock:
            return iter(list(self._entries))


@dataclass
class _Fault:
    kind: str  # delay | fail | rate_limit | drop
    remaining: int
    path: str | None
    status: int = 500
    retry_after: int = 1
    seconds: float = 0.0


class Faults:
    """Failures to inject into the next requests, for testing how a client copes.

    Each call queues a fault for the next `n` requests whose URL path contains `path` (any
    request when `path` is None); faults of one kind are used in the order they were queued,
    and a request can meet one delay, then one error (`fail_next` or `rate_limit_next`), or,
    if it gets through, one drop. Faults are only met by requests that pass authentication
    and the configured rate limit. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []

    def fail_next(self, n: int, status: int = 500, path: str | None = None) -> None:
        """Answers the next `n` requests with `status` and a JSON error, without applying them."""
        if status < 400 or status not in HTTPStatus._value2member_map_:
            raise ValueError(f"an injected failure needs an HTTP error status, got {status}")
        self._add(_Fault("fail", n, path, status=status))

    def rate_limit_next(self, n: int, retry_after: int = 1, path: str | None = None) -> None:
        """Answers the next `n` requests with 429 and `Retry-After: retry_after`, without applying them."""
        if retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {retry_after}")
        self._add(_Fault("rate_limit", n, path, status=429, retry_after=retry_after))

    def delay_next(self, n: int, seconds: float, path: str | None = None) -> None:
        """Sleeps `seconds` before handling the next `n` requests, which then proceed normally
        (a client that timed out meanwhile does not know whether its request was applied)."""
        if seconds < 0:
            raise ValueError(f"a delay must be >= 0 seconds, got {seconds}")
        self._add(_Fault("delay", n, path, seconds=seconds))

    def drop_after_apply_next(self, n: int, path: str | None = None) -> None:
        """Handles the next `n` requests (state changes, idempotency record) and then closes the
        connection without answering: the server did the work, the client never heard."""
        self._add(_Fault("drop", n, path))

    def clear(self) -> None:
        """Forgets every fault not yet used."""
        with self._lock:
            self._queue.clear()

    def take(self, path: str, *kinds: str) -> _Fault | None:
        """Uses up one count of the oldest queued fault of `kinds` that matches `path`."""
        with self._lock:
            for fault in self._queue:
                if fault.kind in kinds and (fault.path is None or fault.path in path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._queue.remove(fault)
                    return fault
        return None

    def _add(self, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError(f"n must be >= 1, got {fault.remaining}")
        with self._lock:
            self._queue.append(fault)


@dataclass(frozen=True)
class _Outcome:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False
    dropped: bool = False
    injected: tuple[str, ...] = ()


class SandboxServer(ABC):
    """A destination API on a loopback address, served from a background thread.

    Use as a context manager (or `start()`/`stop()`); `port=0` picks a free port, see
    `base_url`. `rate_limit=(max_requests, per_seconds)` turns the configured rate limit on.
    """

    logged_headers: tuple[str, ...] = LOGGED_HEADERS

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, rate_limit: tuple[int, float] | None = None) -> None:
        if not ipaddress.ip_address(host if host != "localhost" else "127.0.0.1").is_loopback:
            raise ValueError(f"sandbox servers serve loopback addresses only, not {host!r}")
        self.requests = RequestLog()
        self.faults = Faults()
        self._limiter = RateLimiter(*rate_limit) if rate_limit else None
        # Guards the destination's state and the idempotency store; subclasses take it too.
        self._state_lock = threading.RLock()
        self._stored_responses: dict[tuple[str, str, str], tuple[int, Any]] = {}
        self._httpd = _SandboxHttpServer((host, port), _Handler)
        self._httpd.sandbox = self
        self._thread: threading.Thread | None = None

    # -- what a destination defines -------------------------------------------------------

    @abstractmethod
    def authenticate(self, request: Request) -> None:
        """Raises `ApiError(401, ...)` unless the request carries valid credentials."""

    @abstractmethod
    def route(self, request: Request) -> tuple[int, Any]:
        """Handles an authenticated request: returns (status, JSON payload) or raises `ApiError`."""

    @abstractmethod
    def error_body(self, error: ApiError) -> Any:
        """The JSON body of an error answer, in the destination's own shape."""

    # -- serving ----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        # A short poll interval makes `stop()` quick, which tests starting a server each feel.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _respond(self, request: Request) -> _Outcome:
        """Takes a request through the steps in the module docstring."""
        injected: list[str] = []
        try:
            self.authenticate(request)
            if self._limiter is not None:
                wait = self._limiter.retry_after()
                if wait > 0:
                    raise ApiError(429, "Too many requests: rate limit exceeded", {"Retry-After": str(max(1, math.ceil(wait)))})
            delay = self.faults.take(request.path, "delay")
            if delay is not None:
                injected.append("delay")
                time.sleep(delay.seconds)
            fault = self.faults.take(request.path, "fail", "rate_limit")
            if fault is not None:
                injected.append(fault.kind)
                if fault.kind == "rate_limit":
                    raise ApiError(429, "Too many requests (injected)", {"Retry-After": str(fault.retry_after)})
                raise ApiError(fault.status, f"{HTTPStatus(fault.status).phrase} (injected)")
        except ApiError as error:
            return _Outcome(error.status, self.error_body(error), error.headers, injected=tuple(injected))
        status, payload, replayed = self._apply(request)
        dropped = self.faults.take(request.path, "drop") is not None
        if dropped:
            injected.append("drop")
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return _Outcome(status, payload, headers, replayed=replayed, dropped=dropped, injected=tuple(injected))

    def _apply(self, request: Request) -> tuple[int, Any, bool]:
        """Answers from the idempotency store, or routes the request and stores a 2xx answer."""
        key = request.idempotency_key
        scope = (request.method, request.path, key or "")
        with self._state_lock:
            if key is not None and scope in self._stored_responses:
                status, payload = self._stored_responses[scope]
                return status, payload, True
            try:
                if request.json_error is not None:
                    raise ApiError(400, f"the request body is not valid JSON: {request.json_error}")
                status, payload = self.route(request)
            except ApiError as error:
                return error.status, self.error_body(error), False
            if key is not None and 200 <= status < 300:
                # Stored as JSON text, so later changes to shared objects cannot alter a replay.
                self._stored_responses[scope] = (status, json.loads(json.dumps(payload)))
            return status, payload, False


class BearerAuthServer(SandboxServer):
    """A sandbox server whose every call needs `Authorization: Bearer <token>`."""

    def __init__(self, token: str, **options: Any) -> None:
        super().__init__(**options)
        self.token = token

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("Authorization")
        if header is None:
            raise ApiError(401, "the request has no Authorization header; send `Authorization: Bearer <token>`")
        if header != f"Bearer {self.token}":
            raise ApiError(401, "the bearer token is invalid")


class _Handler(BaseHTTPRequestHandler):
    server: _SandboxHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        sandbox = self.server.sandbox
        received = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body, json_error = _parse_json(raw)
        url = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        request = Request(self.command, url.path, query, self.headers, raw, body, json_error)
        outcome = sandbox._respond(request)
        sandbox.requests.append(
            LoggedRequest(
                method=self.command,
                path=self.path,
                headers={name: self.headers[name] for name in sandbox.logged_headers if name in self.headers},
                body=body,
                idempotency_key=request.idempotency_key,
                status=outcome.status,
                time=received,
                replayed=outcome.replayed,
                dropped=outcome.dropped,
                injected=outcome.injected,
            )
        )
        if outcome.dropped:
            self.close_connection = True  # the socket closes with no status line written
            return
        self._send(outcome.status, outcome.payload, outcome.headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _parse_json(raw: bytes) -> tuple[Any, str | None]:
    """(parsed body, None), or (None, why) when the body is not JSON; an empty body is None."""
    if not raw:
        return None, None
    try:
        return json.loads(raw), None
    except ValueError as exc:
        return None, str(exc)


class _SandboxHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: SandboxServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client that hung up (e.g. after timing out on a delayed answer) is not a server error
        super().handle_error(request, client_address)
