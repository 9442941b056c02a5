"""What the HTTP destination clients share: errors, a client-side rate limit, an HTTP client with
retries, and the checks every destination's settings go through.

`HttpClient.request` makes one logical call, in attempts:

- before each attempt it waits for the destination's `RateLimit`, if it has one;
- every attempt carries the same `Idempotency-Key`, so a destination that applied an attempt
  whose answer was lost (a timeout, a dropped connection) answers the retry from its store;
- 429, 500, 502, 503 and 504, timeouts and connection errors are retried, up to `max_retries`
  times, after a wait: the `Retry-After` the server asked for (seconds or an HTTP date; honored
  even beyond `backoff_max`, up to `retry_after_max`, past which the call gives up at once), or
  else exponential backoff with full jitter, `uniform(0, min(backoff_max, backoff_base * 2**n))`
  before retry n + 1;
- 401 and 403 raise `DestinationAuthError` at once, other 4xx `DestinationRequestError` (the
  request itself is wrong: retrying cannot help); retries spent raise `DestinationUnavailable`.

Every error names the destination, and none carries a credential. A message quotes a server's
answer scrubbed (`activations.governance.redaction.scrub`: email- and phone-shaped parts masked),
since messages reach logs and Dagster; the error's `detail` keeps the answer as it was (the CRM
sync writes it to the activation ledger, a table in the warehouse).
"""

from __future__ import annotations

import inspect
import json
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timezone
from difflib import get_close_matches
from email.utils import parsedate_to_datetime
from typing import Any, Self
from urllib.parse import urlsplit

import requests

from activations.governance.redaction import scrub

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
DETAIL_MAX = 300  # characters of a server's error detail kept in a message


class DestinationConfigError(ValueError):
    """A destination's settings are wrong (raised by constructors); the message names the destination."""


class DestinationError(RuntimeError):
    """A destination refused or could not take a whole batch."""

    def __init__(self, message: str, *, destination: str, status: int | None = None, detail: str | None = None,
                 attempts: int = 1) -> None:
        super().__init__(message)
        self.destination = destination
        self.status = status
        self.detail = detail
        self.attempts = attempts


class DestinationAuthError(DestinationError):
    """401/403: the credentials are wrong or lack a permission. Not retried."""


class DestinationRequestError(DestinationError):
    """Another 4xx (or a redirect): the request itself is wrong. Not retried."""


class DestinationUnavailable(DestinationError):
    """The destination kept failing (429, 5xx, timeouts, connection errors) until the retries ran out."""


# -- settings ----------------------------------------------------------------------------------


def config_error(destination: str, message: str) -> DestinationConfigError:
    return DestinationConfigError(f"destination {destination!r}: {message}")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise DestinationConfigError(f"a destination needs a non-empty name, got {name!r}")
    return name


def check_unknown_settings(destination: str, cls: type, unknown: Mapping[str, Any],
                           also_known: Iterable[str] = ()) -> None:
    """Rejects settings `cls.__init__` does not take (nor `also_known`), suggesting the closest known one."""
    if not unknown:
        return
    known = [parameter.name for parameter in inspect.signature(cls.__init__).parameters.values()
             if parameter.name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD]
    known += [name for name in also_known if name not in known]
    problems = []
    for setting in sorted(unknown):
        close = get_close_matches(setting, known, n=1)
        problems.append(f"{setting!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise config_error(destination, f"unknown setting(s) {', '.join(problems)}; {cls.__name__} takes "
                                    f"{', '.join(known)}")


def check_batch_size(destination: str, batch_size: Any, maximum: int, platform: str) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool):
        raise config_error(destination, f"batch_size must be a whole number, got {batch_size!r}")
    if batch_size < 1:
        raise config_error(destination, f"batch_size must be at least 1, got {batch_size}")
    if batch_size > maximum:
        raise config_error(destination, f"batch_size {batch_size} is above the {platform}'s limit of {maximum}")
    return batch_size


def check_secret(destination: str, setting: str, value: Any, *, allow_bytes: bool = False) -> Any:
    """A token or secret: non-empty text without whitespace that would break a header (or
    non-empty bytes, where `allow_bytes`)."""
    if allow_bytes and isinstance(value, bytes):
        if not value:
            raise config_error(destination, f"{setting} must not be empty")
        return value
    if not isinstance(value, str) or not value:
        raise config_error(destination, f"{setting} must be a non-empty string")
    if value != value.strip() or any(ch in value for ch in "\r\n"):
        raise config_error(destination, f"{setting} has surrounding whitespace or a line break; check how it was read")
    return value


def check_mapping(destination: str, setting: str, value: Any) -> dict[str, str]:
    """A mapping of non-empty strings to non-empty strings (None is an empty mapping)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise config_error(destination, f"{setting} must be a mapping, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not key or not isinstance(item, str) or not item:
            raise config_error(destination, f"{setting} must map non-empty names to non-empty names, got "
                                            f"{key!r}: {item!r}")
    return dict(value)


def check_field_name(destination: str, setting: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise config_error(destination, f"{setting} must name a field, got {value!r}")
    return value


# -- rate limit --------------------------------------------------------------------------------


class RateLimit:
    """At most `requests` requests in any window of `per_seconds`; thread-safe.

    A sliding window in which a request holds its place from the moment it starts until
    `per_seconds` after it ends (`slot()`): a server that counts requests when they arrive
    then never sees more than `requests` in its window, whatever the network's delays, so a
    client configured with the server's published limit is never answered 429 for it.
    `acquire()` is the simpler form for an instantaneous event. `clock` and `sleep` are
    injectable for tests.
    """

    def __init__(self, requests: int, per_seconds: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not isinstance(requests, int) or isinstance(requests, bool) or requests < 1:
            raise ValueError(f"a rate limit needs requests >= 1, got {requests!r}")
        if not isinstance(per_seconds, (int, float)) or not per_seconds > 0 or not math.isfinite(per_seconds):
            raise ValueError(f"a rate limit needs per_seconds > 0, got {per_seconds!r}")
        self.requests = requests
        self.per_seconds = float(per_seconds)
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._ended: deque[float] = deque()  # when the requests of the window ended, oldest first
        self._in_flight = 0

    def __repr__(self) -> str:
        return f"RateLimit(requests={self.requests}, per_seconds={self.per_seconds:g})"

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Waits for room, holds it while the block runs; yields the seconds waited."""
        waited = self._enter()
        try:
            yield waited
        finally:
            self._leave()

    def acquire(self) -> float:
        """Waits for room for a request that starts and ends now; returns the seconds waited."""
        with self.slot() as waited:
            return waited

    def _enter(self) -> float:
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                while self._ended and now - self._ended[0] >= self.per_seconds:
                    self._ended.popleft()
                if self._in_flight + len(self._ended) < self.requests:
                    self._in_flight += 1
                    return waited
                if self._ended:
                    wait = self.per_seconds - (now - self._ended[0])
                else:  # every place is held by a request still running: look again shortly
                    wait = min(self.per_seconds / self.requests, 0.05)
            wait = max(wait, 1e-3)
            self.sleep(wait)
            waited += wait

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._ended.append(self.clock())


# -- HTTP --------------------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a `Retry-After` header (delay-seconds or an HTTP date); None when
    absent or unreadable. A date in the past is 0."""
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now())


def server_detail(response: requests.Response) -> str:
    """The server's own explanation of an error answer, in the common shapes: `detail`
    (RFC 7807, Mailchimp), `message`, `error` as text or as `{"message"}` (Google)."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return _clip(text) if text else (response.reason or "")
    if isinstance(body, dict):
        for key in ("detail", "message", "error_description", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return _clip(value)
            if isinstance(value, dict) and isinstance(value.get("message"), str) and value["message"]:
                return _clip(value["message"])
    return _clip(json.dumps(body))


def _clip(text: str) -> str:
    return text if len(text) <= DETAIL_MAX else text[:DETAIL_MAX - 1] + "…"


def _connection_problem(error: requests.RequestException) -> str:
    reason: Any = error.args[0] if error.args else error
    for _ in range(8):  # down to the innermost cause, e.g. RemoteDisconnected or a refused connection
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException) and isinstance(reason, BaseException) and reason.args:
            inner = reason.args[-1]
        if not isinstance(inner, BaseException):
            break
        reason = inner
    return f"connection failed ({type(reason).__name__}: {reason})"


class HttpClient:
    """JSON over HTTP to one destination, with retries, backoff, Retry-After, a rate limit and an
    idempotency key (see the module docstring). Counters: `requests` (HTTP requests actually
    made), `retries`, `waited_seconds` (backoff and Retry-After waits) and `throttled_seconds`
    (waits for the client-side rate limit)."""

    def __init__(
        self,
        destination_name: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        retry_after_max: float = 600.0,
        rate_limit: RateLimit | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        show_path: bool = True,
    ) -> None:
        name = check_name(destination_name)
        try:
            parts = urlsplit(base_url) if isinstance(base_url, str) else None
            _ = parts and parts.port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise config_error(name, f"the URL must be an http(s) URL with a host, got {_safe_url(base_url)!r}")
        if parts.username or parts.password:
            raise config_error(name, "the URL must not carry credentials; pass the token or secret setting instead")
        for setting, value, low in (("timeout", timeout, "above 0"), ("backoff_base", backoff_base, "0 or more"),
                                    ("backoff_max", backoff_max, "0 or more"),
                                    ("retry_after_max", retry_after_max, "0 or more")):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not ok or (value <= 0 if setting == "timeout" else value < 0):
                raise config_error(name, f"{setting} must be a number {low} (seconds), got {value!r}")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise config_error(name, f"max_retries must be a whole number >= 0, got {max_retries!r}")
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise config_error(name, f"rate_limit must be a RateLimit(requests, per_seconds), got {rate_limit!r}")
        self.destination_name = name
        self.base_url = base_url
        self.headers = dict(headers or {})
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.retry_after_max = float(retry_after_max)
        self.rate_limit = rate_limit
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self.show_path = show_path
        self.session = requests.Session()
        self.requests = 0
        self.retries = 0
        self.waited_seconds = 0.0
        self.throttled_seconds = 0.0

    def close(self) -> None:
        self.session.close()

    def backoff(self, retry: int) -> float:
        """The wait before retry `retry + 1` when the server did not say: full jitter."""
        return self.rng.random() * min(self.backoff_max, self.backoff_base * 2.0 ** min(retry, 60))

    def _scrub(self, text: str, url: str) -> str:
        """`text` clipped, and without the URL's path and query when they are not to be shown."""
        if not self.show_path:
            parts = urlsplit(url)
            for secret in (f"{parts.path}?{parts.query}", parts.path, parts.query):
                if secret.strip("/?"):
                    text = text.replace(secret, "<the configured path>")
        return _clip(text)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,  # noqa: A002 - the name requests uses
        data: bytes | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        sign: Callable[[bytes], Mapping[str, str]] | None = None,
    ) -> requests.Response:
        """One call, in as many attempts as it takes; returns the 2xx response or raises a
        `DestinationError`. `json` is encoded once, so every attempt sends the same bytes;
        `sign(body)` gives headers computed afresh for each attempt (a signature with a timestamp)."""
        if json is not None and data is not None:
            raise ValueError("pass json or data, not both")
        body = _encode(json) if json is not None else data
        url = self.base_url.rstrip("/") + path if path else self.base_url
        what = f"{method} {urlsplit(url).path or '/'}" if self.show_path else f"{method} to the configured URL"
        last_problem = ""
        attempts = 0
        for attempt in range(self.max_retries + 1):
            sent = dict(self.headers)
            if body is not None:
                sent.setdefault("Content-Type", "application/json")
            sent.update(headers or {})
            if idempotency_key is not None:
                sent["Idempotency-Key"] = idempotency_key
            if sign is not None:
                sent.update(sign(body or b""))
            attempts = attempt + 1
            try:
                response = self._send(method, url, body, sent)
            except requests.Timeout:
                last_problem = f"no answer within the {self.timeout:g} s timeout"
                wait = self.backoff(attempt)
            except requests.exceptions.SSLError as error:  # a certificate problem does not pass by itself
                raise DestinationError(f"destination {self.destination_name!r}: {what} failed the TLS handshake: "
                                       f"{self._scrub(str(error), url)}", destination=self.destination_name,
                                       attempts=attempts) from error
            except requests.ConnectionError as error:
                last_problem = self._scrub(_connection_problem(error), url)
                wait = self.backoff(attempt)
            except requests.RequestException as error:
                raise DestinationError(f"destination {self.destination_name!r}: {what} could not be sent: "
                                       f"{self._scrub(str(error), url)}", destination=self.destination_name,
                                       attempts=attempts) from error
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return response
                detail = server_detail(response)
                # the message reaches logs and Dagster: a server's detail can quote the record it refused
                problem = f"{status} {response.reason or ''}".rstrip() + (f": {scrub(detail)}" if detail else "")
                if status in AUTH_STATUSES:
                    raise DestinationAuthError(
                        f"destination {self.destination_name!r}: {what} was refused with {problem}; check the "
                        f"credentials (token or secret) configured for this destination",
                        destination=self.destination_name, status=status, detail=detail, attempts=attempts)
                if status not in RETRY_STATUSES:
                    if 300 <= status < 400:
                        problem += f" (redirected to {_safe_url(response.headers.get('Location', '?'))})"
                    error_class = DestinationRequestError if status < 500 else DestinationUnavailable
                    raise error_class(
                        f"destination {self.destination_name!r}: {what} was refused with {problem}"
                        + ("; the request itself is wrong, so it is not retried" if status < 500 else ""),
                        destination=self.destination_name, status=status, detail=detail, attempts=attempts)
                last_problem = problem
                asked = parse_retry_after(response.headers.get("Retry-After"), self.clock)
                if asked is not None and asked > self.retry_after_max:
                    raise DestinationUnavailable(
                        f"destination {self.destination_name!r}: {what} answered {problem} and asked to wait "
                        f"{asked:g} s (Retry-After), more than retry_after_max {self.retry_after_max:g} s; giving "
                        f"up after {attempts} attempt(s)",
                        destination=self.destination_name, status=status, detail=detail, attempts=attempts)
                wait = asked if asked is not None else self.backoff(attempt)
            if attempt == self.max_retries:
                break
            self.retries += 1
            self.waited_seconds += wait
            self.sleep(wait)
        raise DestinationUnavailable(
            f"destination {self.destination_name!r}: {what} failed after {attempts} attempt(s); last error: "
            f"{last_problem}", destination=self.destination_name, attempts=attempts)

    def _send(self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> requests.Response:
        if self.rate_limit is None:
            self.requests += 1
            return self.session.request(method, url, data=body, headers=headers, timeout=self.timeout,
                                        allow_redirects=False)
        with self.rate_limit.slot() as waited:
            self.throttled_seconds += waited
            self.requests += 1
            return self.session.request(method, url, data=body, headers=headers, timeout=self.timeout,
                                        allow_redirects=False)


def _encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _safe_url(url: Any) -> str:
    """A URL for a message: scheme, host and path, never a query string or user info."""
    if not isinstance(url, str):
        return repr(url)
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<an unreadable URL>"
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else parts.path


def answer_json(response: requests.Response, destination: str, expected: Iterable[str] = ()) -> dict[str, Any]:
    """A 2xx answer's JSON object, or a DestinationError saying what was wrong with it."""
    try:
        body = response.json()
    except ValueError:
        body = None
    missing = [key for key in expected if not isinstance(body, dict) or key not in body]
    if not isinstance(body, dict) or missing:
        raise DestinationError(
            f"destination {destination!r}: answered {response.status_code} with an unexpected body"
            + (f" (no {', '.join(missing)})" if isinstance(body, dict) else "") + f": {scrub(_clip(response.text))!r}",
            destination=destination, status=response.status_code)
    return body


# the HTTP client's settings every HTTP destination takes as keywords (see HttpClient)
TRANSPORT_SETTINGS = ("rate_limit", "timeout", "max_retries", "backoff_base", "backoff_max", "retry_after_max",
                      "sleep", "rng")


class HttpDestination:
    """What the HTTP destinations share: settings checks, the client, closing.

    Every HTTP destination also takes the client's settings as keywords: `rate_limit`
    (a RateLimit), `timeout`, `max_retries`, `backoff_base`, `backoff_max`, `retry_after_max`
    (seconds), and for tests `sleep` and `rng`; see HttpClient for their defaults."""

    MAX_BATCH_SIZE: int
    PLATFORM: str  # how messages name the kind of destination, e.g. "email platform"
    name: str
    batch_size: int
    fields: frozenset[str] | None
    http: HttpClient

    def _setup(self, name: str, batch_size: int, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Checks the name, the batch size and the keyword settings the destination's own
        parameters did not take: the client's (returned, for HttpClient) or unknown (refused)."""
        self.name = check_name(name)
        check_unknown_settings(self.name, type(self), {k: v for k, v in settings.items() if k not in TRANSPORT_SETTINGS},
                               also_known=TRANSPORT_SETTINGS)
        self.batch_size = check_batch_size(self.name, batch_size, self.MAX_BATCH_SIZE, self.PLATFORM)
        return {k: v for k, v in settings.items() if k in TRANSPORT_SETTINGS}

    def _check_operation(self, operation: str) -> None:
        if operation not in ("upsert", "remove"):
            raise ValueError(f"destination {self.name!r}: unknown operation {operation!r}; expected upsert or remove")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        url = _safe_url(self.http.base_url)
        if not self.http.show_path:
            url = url[:len(url) - len(urlsplit(url).path)] + "/…"
        return f"{type(self).__name__}(name={self.name!r}, url={url!r})"
