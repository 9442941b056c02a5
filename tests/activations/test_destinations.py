"""The HTTP destination clients against the local sandbox servers: happy paths, retries, Retry-After,
timeouts, dropped answers, auth, per-record failures, idempotency, rate limits, settings, and
each one driven by the sync engine."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from activations.destinations.ads import AdsDestination, normalize_email, normalize_phone, sha256_hex
from activations.destinations.base import (
    DestinationAuthError,
    DestinationConfigError,
    DestinationRequestError,
    DestinationUnavailable,
    HttpClient,
    HttpDestination,
    RateLimit,
    parse_retry_after,
)
from activations.destinations.esp import EspDestination
from activations.destinations.webhook import WebhookDestination
from activations.engine import LEDGER, OUTBOX, Change, SyncEngine, payload_hash
from dlt_sources.sample_world.sandbox import AdsServer, EspServer, WebhookServer
from dlt_sources.sample_world.sandbox.base import Request, SandboxServer
from expectations.warehouse import connect

TOKEN = "sandbox-token"
SECRET = "webhook-secret"
AUDIENCE = "champions"
KINDS = ("esp", "ads", "webhook")
NAMES = {"esp": "email_platform", "ads": "ad_platform", "webhook": "order_hook"}


class Sleeps(list):
    """An injected `sleep` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Top:
    """An injected rng whose draws are all 1.0: backoff waits become their caps."""

    def random(self) -> float:
        return 1.0


def person(i: int) -> dict[str, Any]:
    return {"email": f"p{i}@mail.test", "first_name": f"P{i}", "phone": f"+1415555{i:04d}"}


def change(i: int, operation: str = "add", **fields: Any) -> Change:
    values = {**person(i), **fields}
    return Change(f"c{i:03d}", operation, values, payload_hash(values))


def changes(n: int, start: int = 0) -> list[Change]:
    return [change(i) for i in range(start, start + n)]


@dataclass
class Kit:
    """A sandbox server, a way to make a destination for it, and a count of records it applied."""

    kind: str
    server: SandboxServer | Any  # EspServer, AdsServer or WebhookServer
    make: Callable[..., HttpDestination]
    applied: Callable[[], int]
    sleeps: Sleeps


@contextmanager
def kit(kind: str, rate_limit: tuple[int, float] | None = None) -> Iterator[Kit]:
    sleeps = Sleeps()
    defaults = {"sleep": sleeps, "rng": random.Random(7)}
    if kind == "esp":
        with EspServer(TOKEN, rate_limit=rate_limit) as esp:
            esp.create_list(AUDIENCE, merge_fields=("FNAME",))

            def make(**options: Any) -> HttpDestination:
                options = {**defaults, "merge_fields": {"FNAME": "first_name"}, **options}
                return EspDestination(NAMES[kind], esp.base_url, options.pop("token", TOKEN), **options)

            yield Kit(kind, esp, make, lambda: len(esp.members(AUDIENCE)), sleeps)
    elif kind == "ads":
        with AdsServer(TOKEN, rate_limit=rate_limit) as ads:
            ads.create_audience(AUDIENCE)

            def make(**options: Any) -> HttpDestination:
                options = {**defaults, **options}
                return AdsDestination(NAMES[kind], ads.base_url, options.pop("token", TOKEN), **options)

            yield Kit(kind, ads, make, lambda: len(ads.audience_members(AUDIENCE)), sleeps)
    else:
        with WebhookServer(SECRET, rate_limit=rate_limit) as hooks:

            def make(**options: Any) -> HttpDestination:
                options = {**defaults, **options}
                return WebhookDestination(NAMES[kind], f"{hooks.base_url}/hooks/{AUDIENCE}",
                                          options.pop("token", SECRET), **options)

            def applied() -> int:
                return sum(len(d.body["records"]) for d in hooks.deliveries(AUDIENCE))

            yield Kit(kind, hooks, make, applied, sleeps)


def all_ok(results: list) -> bool:
    return all(r.ok for r in results)


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server"
        time.sleep(0.02)


# -- every destination -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_happy_path(kind: str) -> None:
    with kit(kind) as k:
        destination = k.make()
        results = destination.send(AUDIENCE, "upsert", changes(3), "batch-1")
        assert [(r.customer_id, r.ok, r.error) for r in results] == [(f"c{i:03d}", True, None) for i in range(3)]
        assert k.applied() == 3
        assert destination.http.requests == len(k.server.requests) == 1
        assert k.server.requests[0].idempotency_key == "batch-1"
        assert (destination.http.retries, k.sleeps) == (0, [])
        assert destination.send(AUDIENCE, "upsert", [], "empty") == [] and len(k.server.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_429_waits_exactly_the_retry_after(kind: str) -> None:
    with kit(kind) as k:
        k.server.faults.rate_limit_next(1, retry_after=7)
        destination = k.make()
        assert all_ok(destination.send(AUDIENCE, "upsert", changes(2), "batch-1"))
        assert k.sleeps == [7.0]  # honored though it is not what backoff would have waited
        assert (destination.http.retries, destination.http.waited_seconds, destination.http.requests) == (1, 7.0, 2)
        assert [r.status for r in k.server.requests] == [429, 200]
        assert k.applied() == 2


@pytest.mark.parametrize("kind", KINDS)
def test_5xx_then_success_backs_off_with_jitter_under_one_key(kind: str) -> None:
    with kit(kind) as k:
        k.server.faults.fail_next(1, status=500)
        k.server.faults.fail_next(1, status=502)
        k.server.faults.fail_next(1, status=503)
        destination = k.make(backoff_base=0.5)
        assert all_ok(destination.send(AUDIENCE, "upsert", changes(2), "batch-1"))
        assert [r.status for r in k.server.requests] == [500, 502, 503, 200]
        assert [r.idempotency_key for r in k.server.requests] == ["batch-1"] * 4
        assert len(k.sleeps) == 3
        assert all(0 <= wait <= cap for wait, cap in zip(k.sleeps, (0.5, 1.0, 2.0)))
        assert len(set(k.sleeps)) == 3  # jittered, not a fixed schedule
        assert k.applied() == 2


def test_backoff_is_exponential_and_capped() -> None:
    with kit("esp") as k:
        k.server.faults.fail_next(5, status=504)
        destination = k.make(rng=Top(), backoff_base=0.5, backoff_max=1.5)
        assert all_ok(destination.send(AUDIENCE, "upsert", changes(1), "batch-1"))
        assert k.sleeps == [0.5, 1.0, 1.5, 1.5, 1.5]
        assert destination.http.waited_seconds == 6.0


@pytest.mark.parametrize("kind", KINDS)
def test_a_timeout_is_retried_and_applied_once(kind: str) -> None:
    with kit(kind) as k:
        k.server.faults.delay_next(1, 0.8)
        destination = k.make(timeout=0.3)
        assert all_ok(destination.send(AUDIENCE, "upsert", changes(2), "batch-1"))
        assert k.sleeps and destination.http.retries == len(k.sleeps)
        wait_for(lambda: len(k.server.requests) == destination.http.requests)  # the timed-out one finishes too
        logged = list(k.server.requests)
        assert [r.injected for r in logged].count(("delay",)) == 1
        assert {r.idempotency_key for r in logged} == {"batch-1"}
        assert sum(not r.replayed for r in logged) == 1, "applied by one request, the others answered from the store"
        assert k.applied() == 2


@pytest.mark.parametrize("kind", KINDS)
def test_retries_spent_raise_unavailable(kind: str) -> None:
    with kit(kind) as k:
        k.server.faults.fail_next(10, status=503)
        destination = k.make(max_retries=2)
        with pytest.raises(DestinationUnavailable) as raised:
            destination.send(AUDIENCE, "upsert", changes(2), "batch-1")
        message = str(raised.value)
        assert f"destination {NAMES[kind]!r}" in message
        assert "after 3 attempt(s)" in message and "503 Service Unavailable" in message
        assert raised.value.attempts == 3
        assert len(k.server.requests) == 3 and len(k.sleeps) == 2
        assert k.applied() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_bad_credentials_fail_at_once_with_a_clear_message(kind: str) -> None:
    with kit(kind) as k:
        destination = k.make(token="wrong")
        with pytest.raises(DestinationAuthError) as raised:
            destination.send(AUDIENCE, "upsert", changes(2), "batch-1")
        message = str(raised.value)
        assert f"destination {NAMES[kind]!r}" in message
        assert "401 Unauthorized" in message and "check the credentials" in message
        assert raised.value.detail and raised.value.detail in message  # the server's own explanation
        assert "wrong" not in message, "the credential is not echoed"
        assert len(k.server.requests) == 1 and k.sleeps == []
        assert k.applied() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_one_idempotency_key_across_retries_and_resends(kind: str) -> None:
    with kit(kind) as k:
        destination = k.make()
        k.server.faults.fail_next(1, status=500)
        first = destination.send(AUDIENCE, "upsert", changes(2), "batch-1")
        # the engine sends a batch again under its key when it never heard the answer
        again = destination.send(AUDIENCE, "upsert", changes(2), "batch-1")
        assert first == again and all_ok(again)
        logged = list(k.server.requests)
        assert [(r.idempotency_key, r.status, r.replayed) for r in logged] == [
            ("batch-1", 500, False), ("batch-1", 200, False), ("batch-1", 200, True)]
        assert k.applied() == 2
        if kind == "webhook":
            assert len(k.server.deliveries(AUDIENCE)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_answer_dropped_after_apply_is_retried_and_applied_once(kind: str) -> None:
    with kit(kind) as k:
        k.server.faults.drop_after_apply_next(1)
        destination = k.make()
        assert all_ok(destination.send(AUDIENCE, "upsert", changes(3), "batch-1"))
        logged = list(k.server.requests)
        assert [(r.dropped, r.replayed) for r in logged] == [(True, False), (False, True)]
        assert k.applied() == 3
        if kind == "webhook":
            assert len(k.server.deliveries(AUDIENCE)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_the_client_rate_limit_keeps_the_server_from_answering_429(kind: str) -> None:
    with kit(kind, rate_limit=(2, 0.25)) as k:
        unlimited = k.make(max_retries=0)
        with pytest.raises(DestinationUnavailable, match="429"):  # the limit is real
            for n in range(50):
                unlimited.send(AUDIENCE, "upsert", [change(n)], f"unlimited-{n}")
        time.sleep(0.3)
        k.server.requests.clear()
        limited = k.make(rate_limit=RateLimit(2, 0.25), max_retries=0)
        for n in range(100, 106):
            assert all_ok(limited.send(AUDIENCE, "upsert", [change(n)], f"limited-{n}"))
        assert [r.status for r in k.server.requests] == [200] * 6
        assert limited.http.throttled_seconds > 0.4  # six requests at two per 0.25 s
        assert k.sleeps == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("options", "expected"), [
    ({"batch_size": 0}, "batch_size must be at least 1, got 0"),
    ({"batch_size": 10**6}, "batch_size 1000000 is above the"),
    ({"batch_size": "500"}, "batch_size must be a whole number"),
    ({"batchsize": 10}, "unknown setting(s) 'batchsize' (did you mean 'batch_size'?)"),
    ({"timeout": 0}, "timeout must be a number above 0"),
    ({"max_retries": -1}, "max_retries must be a whole number >= 0"),
    ({"rate_limit": (10, 1.0)}, "rate_limit must be a RateLimit"),
    ({"token": ""}, "must be a non-empty string"),
    ({"token": " padded\n"}, "surrounding whitespace"),
])
def test_bad_settings_name_the_destination(kind: str, options: dict, expected: str) -> None:
    with kit(kind) as k:
        with pytest.raises(DestinationConfigError) as raised:
            k.make(**options)
        assert str(raised.value).startswith(f"destination {NAMES[kind]!r}: ")
        assert expected in str(raised.value)


def test_limits_and_bad_urls() -> None:
    assert (EspDestination.MAX_BATCH_SIZE, AdsDestination.MAX_BATCH_SIZE, WebhookDestination.MAX_BATCH_SIZE) == (
        500, 10_000, 5_000)
    with pytest.raises(DestinationConfigError, match="^destination 'email_platform': batch_size 800 is above the "
                                                    "email platform's limit of 500$"):
        EspDestination("email_platform", "http://127.0.0.1:1", TOKEN, batch_size=800)
    for url in ("ftp://127.0.0.1/x", "127.0.0.1:8000", "http://", "http://user:pw@127.0.0.1/"):
        with pytest.raises(DestinationConfigError, match="^destination 'ad_platform': the URL") as raised:
            AdsDestination("ad_platform", url, TOKEN)
        assert "pw" not in str(raised.value)
    with pytest.raises(DestinationConfigError, match="merge tag"):
        EspDestination("email_platform", "http://127.0.0.1:1", TOKEN, merge_fields={"first_name": "FNAME"})
    with pytest.raises(DestinationConfigError, match="default_phone_region"):
        AdsDestination("ad_platform", "http://127.0.0.1:1", TOKEN, default_phone_region="USA")
    with pytest.raises(DestinationConfigError, match="needs a non-empty name"):
        WebhookDestination("", "http://127.0.0.1:1/hook", SECRET)


def test_fields_each_destination_accepts() -> None:
    esp = EspDestination("e", "http://127.0.0.1:1", TOKEN, email_field="mail", merge_fields={"FNAME": "first_name"})
    assert esp.fields == frozenset({"mail", "first_name"})
    assert AdsDestination("a", "http://127.0.0.1:1", TOKEN).fields == frozenset({"email", "phone"})
    assert WebhookDestination("w", "http://127.0.0.1:1/h", b"key").fields is None


# -- the HTTP client ---------------------------------------------------------------------------


def test_retry_after_beyond_the_maximum_gives_up_at_once() -> None:
    with kit("esp") as k:
        k.server.faults.rate_limit_next(1, retry_after=700)
        destination = k.make()
        with pytest.raises(DestinationUnavailable, match="asked to wait 700 s .*more than retry_after_max 600 s"):
            destination.send(AUDIENCE, "upsert", changes(1), "batch-1")
        assert len(k.server.requests) == 1 and k.sleeps == []
        k.server.faults.rate_limit_next(1, retry_after=90)
        patient = k.make(retry_after_max=600, backoff_max=5)
        assert all_ok(patient.send(AUDIENCE, "upsert", changes(1), "batch-2"))
        assert k.sleeps == [90.0]  # above backoff_max, still honored


def test_retry_after_parsing() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("7", lambda: now) == 7.0
    assert parse_retry_after(" 0 ", lambda: now) == 0.0
    date = format_datetime(datetime.fromtimestamp(now + 30).astimezone(), usegmt=False)
    assert parse_retry_after(date, lambda: now) == pytest.approx(30.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", lambda: now) == 0.0  # in the past
    assert parse_retry_after("soon", lambda: now) is None
    assert parse_retry_after(None) is None


def test_other_client_errors_are_not_retried_and_carry_the_detail() -> None:
    with kit("esp") as k:
        destination = k.make(lists={AUDIENCE: "no-such-list"})
        with pytest.raises(DestinationRequestError) as raised:
            destination.send(AUDIENCE, "upsert", changes(1), "batch-1")
        assert "404 Not Found: the list 'no-such-list' could not be found" in str(raised.value)
        assert "not retried" in str(raised.value) and raised.value.status == 404
        assert len(k.server.requests) == 1 and k.sleeps == []
        with pytest.raises(DestinationConfigError, match="no list configured for audience 'other'"):
            destination.send("other", "upsert", changes(1), "batch-2")


def test_connection_refused_is_retried_then_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    client = HttpClient("crm_out", f"http://127.0.0.1:{port}", {}, max_retries=2, sleep=sleeps, timeout=2)
    with pytest.raises(DestinationUnavailable, match=r"'crm_out': POST /x failed after 3 attempt\(s\); last error: "
                                                     r"connection failed"):
        client.request("POST", "/x", json={})
    assert (client.requests, client.retries, len(sleeps)) == (3, 2, 2)


def test_rate_limit_window_with_a_fake_clock() -> None:
    now = [0.0]
    limit = RateLimit(3, 1.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert [limit.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.acquire() == pytest.approx(1.0)  # the fourth waits for the first to leave the window
    now[0] = 1.5
    with limit.slot() as waited:
        assert waited == 0.0
        now[0] = 5.0  # a long request holds its place until it ends
    assert [limit.acquire() for _ in range(2)] == [0.0, 0.0]
    assert limit.acquire() == pytest.approx(1.0) and now[0] == pytest.approx(6.0), "counted from when it ended"
    with pytest.raises(ValueError):
        RateLimit(0, 1.0)
    with pytest.raises(ValueError):
        RateLimit(1, 0)


def test_rate_limit_is_thread_safe() -> None:
    limit = RateLimit(4, 0.2)
    inside: list[int] = []
    lock = threading.Lock()
    held = [0]

    def work() -> None:
        with limit.slot():
            with lock:
                held[0] += 1
                inside.append(held[0])
            time.sleep(0.01)
            with lock:
                held[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 0.4, "12 requests at 4 per 0.2 s need two full windows"
    assert max(inside) <= 4 and len(inside) == 12


# -- email platform ----------------------------------------------------------------------------


def test_esp_partial_failure_reports_the_failed_and_applies_the_rest() -> None:
    with kit("esp") as k:
        k.server.reject_emails(AUDIENCE, ["p1@mail.test"])
        batch = [change(0), change(1), change(2, email="not-an-email"), change(3, email=None), change(4, email="  "),
                 change(5, first_name=["a", "list"]), change(6, email="P0@Mail.Test")]
        results = {r.customer_id: r for r in k.make().send(AUDIENCE, "upsert", batch, "batch-1")}
        assert [r.customer_id for r in results.values()] == [c.customer_id for c in batch]
        assert results["c000"].ok and results["c006"].ok, "a shared email is sent once and answers both"
        assert results["c001"].error.startswith("ERROR_CONTACT_EXISTS_COMPLIANCE: p1@mail.test is in a compliance")
        assert results["c002"].error.startswith("ERROR_INVALID_EMAIL: not-an-email looks fake")
        assert results["c003"].error == results["c004"].error == "no email to send"
        assert results["c005"].error == ("merge field FNAME (from first_name) must be text, a number or a boolean, "
                                         "got list")
        assert set(k.server.members(AUDIENCE)) == {"p0@mail.test"}
        sent = k.server.requests[0].body
        assert sent["update_existing"] is True
        assert [m["email_address"] for m in sent["members"]] == ["p0@mail.test", "p1@mail.test", "not-an-email"]
        assert {m["status"] for m in sent["members"]} == {"subscribed"}


def test_esp_merge_fields_none_clears_and_absent_keeps() -> None:
    with kit("esp") as k:
        destination = k.make()
        destination.send(AUDIENCE, "upsert", [change(0)], "b1")
        assert k.server.members(AUDIENCE)["p0@mail.test"]["merge_fields"] == {"FNAME": "P0"}
        destination.send(AUDIENCE, "upsert", [Change("c000", "update", {"email": "p0@mail.test"}, "h")], "b2")
        assert k.server.members(AUDIENCE)["p0@mail.test"]["merge_fields"] == {"FNAME": "P0"}
        destination.send(AUDIENCE, "upsert", [change(0, "update", first_name=None)], "b3")
        assert k.server.members(AUDIENCE)["p0@mail.test"]["merge_fields"] == {"FNAME": ""}


def test_esp_remove_archives_and_a_missing_member_is_already_gone() -> None:
    with kit("esp") as k:
        destination = k.make(lists={"vip": AUDIENCE})
        destination.send("vip", "upsert", changes(2), "b1")
        results = destination.send("vip", "remove", [change(0, "remove"), change(9, "remove"),
                                                     change(7, "remove", email=None)], "b2")
        assert [(r.ok, r.error) for r in results] == [(True, None), (True, None), (False, "no email to send")]
        assert set(k.server.members(AUDIENCE)) == {"p1@mail.test"}
        assert k.server.requests[-1].path == f"/v1/lists/{AUDIENCE}/members:batch-remove"
        assert k.server.requests[-1].body == {"emails": ["p0@mail.test", "p9@mail.test"]}


# -- ad platform -------------------------------------------------------------------------------


def test_normalize_email() -> None:
    assert normalize_email("  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    # dots kept: Customer Match accepts the address either way, Meta matches only on this form
    assert normalize_email("John.Doe@gmail.com") == "john.doe@gmail.com"
    assert normalize_email("John.Doe@GoogleMail.com", strip_gmail_dots=True) == "johndoe@googlemail.com"
    assert normalize_email("a.b@example.com", strip_gmail_dots=True) == "a.b@example.com"
    for bad in ("", "   ", "no-at-sign", "@example.com", "ann@", "ann@localhost", "a b@example.com",
                "a@b@example.com", "ann@example.", None, 42):
        assert normalize_email(bad) is None, bad


def test_normalize_phone_and_hash() -> None:
    assert normalize_phone("(415) 555-0123") == "+14155550123"
    assert normalize_phone(" +44 7911 123456 ") == "+447911123456"
    assert normalize_phone("07911 123456", "GB") == "+447911123456"
    assert normalize_phone(14155550123) == "+14155550123"
    for bad in ("", "555-CALL-NOW", "12", "not a phone", None, 4.5):
        assert normalize_phone(bad) is None, bad
    assert sha256_hex("ann@example.com") == hashlib.sha256(b"ann@example.com").hexdigest()
    assert len(sha256_hex("+14155550123")) == 64


def raw_identifiers(numbers: range) -> list[str]:
    values = []
    for i in numbers:
        fields = person(i)
        values += [fields["email"], fields["phone"], fields["phone"].lstrip("+"), f"415555{i:04d}"]
    return values


def test_ads_sends_only_hashes_and_maps_rows_back() -> None:
    with kit("ads") as k:
        batch = [change(0), change(1, email=None), change(2, phone="call me"), change(3, email="bad", phone=None),
                 change(4, email=" P4@Mail.TEST ", phone="(415) 555-0004")]
        results = k.make().send(AUDIENCE, "upsert", batch, "batch-1")
        assert [r.ok for r in results] == [True, True, True, False, True]
        assert results[3].error == "no valid email or phone to match on (email not usable, phone missing)"
        sent = k.server.requests[0].body
        assert sent["schema"] == ["EMAIL_SHA256", "PHONE_SHA256"]
        e, p = (lambda i: sha256_hex(f"p{i}@mail.test")), (lambda i: sha256_hex(f"+1415555{i:04d}"))
        assert sent["data"] == [[e(0), p(0)], ["", p(1)], [e(2), ""], [e(4), p(4)]]
        text = json.dumps([r.body for r in k.server.requests])
        assert not [raw for raw in raw_identifiers(range(5)) if raw in text]
        assert k.server.audience_members(AUDIENCE) == {tuple(row) for row in sent["data"]}


class ReportingAds(AdsServer):
    """An ad platform that finds some rows invalid (here: those of emails the test names)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invalid_emails: set[str] = set()

    def route(self, request: Request) -> tuple[int, Any]:
        body = request.body
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            bad = {sha256_hex(email) for email in self.invalid_emails}
            body = {**body, "data": [["unusable", *row[1:]] if row and row[0] in bad else row for row in body["data"]]}
        return super().route(replace(request, body=body))


def test_ads_per_row_errors_fail_their_change_only() -> None:
    with ReportingAds(TOKEN) as server:
        server.create_audience(AUDIENCE)
        server.invalid_emails = {"p1@mail.test"}
        destination = AdsDestination("ad_platform", server.base_url, TOKEN, sleep=Sleeps())
        results = destination.send(AUDIENCE, "upsert", changes(3), "batch-1")
        assert [r.ok for r in results] == [True, False, True]
        assert results[1].error == "INVALID_ENTRY: EMAIL_SHA256 is not a SHA-256 digest (64 lowercase hex characters)"
        assert len(server.audience_members(AUDIENCE)) == 2


# -- webhook -----------------------------------------------------------------------------------


def test_webhook_delivery_body_and_signature() -> None:
    with kit("webhook") as k:
        destination = k.make()
        batch = [change(0), change(1, "update"), Change("c002", "remove", {"email": "old@mail.test"}, "h2", "erased")]
        assert all_ok(destination.send(AUDIENCE, "upsert", batch, "batch-1"))
        (delivery,) = k.server.deliveries(AUDIENCE)
        assert {key: delivery.body[key] for key in ("audience", "operation", "batch_id")} == {
            "audience": AUDIENCE, "operation": "upsert", "batch_id": "batch-1"}
        assert datetime.fromisoformat(delivery.body["sent_at"]).utcoffset().total_seconds() == 0
        assert delivery.body["records"] == [
            {"customer_id": c.customer_id, "operation": c.operation, "fields": c.fields,
             **({"reason": "erased"} if c.operation == "remove" else {})} for c in batch]
        timestamp = delivery.headers["X-CDP-Timestamp"]
        raw = json.dumps(delivery.body, separators=(",", ":"), ensure_ascii=False).encode()
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
        assert delivery.headers["X-CDP-Signature"] == f"sha256={expected}"
        assert delivery.headers["Idempotency-Key"] == "batch-1"


def test_webhook_signs_each_attempt_afresh() -> None:
    with kit("webhook") as k:
        ticks = iter([0, 0, 60])  # sent_at, first attempt, second attempt (a minute of backoff later)
        base = time.time()
        destination = k.make(clock=lambda: base + next(ticks))
        k.server.faults.fail_next(1, status=503)
        assert all_ok(destination.send(AUDIENCE, "upsert", changes(1), "batch-1"))
        stamps = [int(r.headers["X-CDP-Timestamp"]) for r in k.server.requests]
        assert stamps[1] - stamps[0] == 60 and [r.status for r in k.server.requests] == [503, 200]


def test_webhook_secret_must_not_be_empty_and_the_url_stays_out_of_messages() -> None:
    for secret in ("", b""):
        with pytest.raises(DestinationConfigError, match="^destination 'order_hook': secret must"):
            WebhookDestination("order_hook", "http://127.0.0.1:1/hooks/x", secret)
    with kit("webhook") as k:
        destination = WebhookDestination("order_hook", f"{k.server.base_url}/hooks/t0ken-in-path?sig=abc", "nope",
                                         sleep=Sleeps())
        with pytest.raises(DestinationAuthError) as raised:
            destination.send(AUDIENCE, "upsert", changes(1), "batch-1")
        assert "t0ken" not in str(raised.value) and "abc" not in str(raised.value)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = WebhookDestination("order_hook", f"http://127.0.0.1:{port}/hooks/t0ken-in-path?sig=abc", SECRET,
                                max_retries=1, sleep=Sleeps())
    with pytest.raises(DestinationUnavailable, match="connection failed") as raised:
        closed.send(AUDIENCE, "upsert", changes(1), "batch-1")
    assert "t0ken" not in str(raised.value) and "abc" not in str(raised.value)


# -- through the sync engine -------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path):
    with connect("duckdb", duckdb_path=str(tmp_path / "w.duckdb")) as wh:
        yield wh


def desired(n: int) -> dict[str, dict[str, Any]]:
    return {f"c{i:03d}": person(i) for i in range(n)}


@pytest.mark.parametrize("kind", KINDS)
def test_engine_sends_the_diff_and_nothing_when_nothing_changed(kind: str, warehouse) -> None:
    with kit(kind) as k:
        engine = SyncEngine(warehouse, k.make(batch_size=4))
        first = engine.sync(AUDIENCE, desired(10), mode="mirror", run_id="r1")
        assert (first.added, first.failed, first.requests) == (10, 0, 3)
        assert k.applied() == 10 and len(k.server.requests) == 3
        again = engine.sync(AUDIENCE, desired(10), mode="mirror", run_id="r2")
        assert (again.requests, again.unchanged) == (0, 10)
        assert len(k.server.requests) == 3, "an unchanged audience makes no HTTP request"
        changed = desired(11)
        changed["c002"] = {**changed["c002"], "first_name": "Renamed"}
        third = engine.sync(AUDIENCE, changed, mode="mirror", run_id="r3")
        assert (third.added, third.updated, third.requests) == (1, 1, 1)


@pytest.mark.parametrize("kind", ["esp", "ads"])
def test_engine_removes_a_member_whose_consent_is_revoked(kind: str, warehouse) -> None:
    with kit(kind) as k:
        engine = SyncEngine(warehouse, k.make())
        engine.sync(AUDIENCE, desired(4), mode="upsert", run_id="r1")
        report = engine.sync(AUDIENCE, desired(4), mode="upsert", run_id="r2", blocked={"c001"})
        assert (report.removed, report.skipped_consent) == (1, 1)
        if kind == "esp":
            assert set(k.server.members(AUDIENCE)) == {"p0@mail.test", "p2@mail.test", "p3@mail.test"}
            assert k.server.members(AUDIENCE, include_archived=True)["p1@mail.test"]["status"] == "archived"
        else:
            held = k.server.audience_members(AUDIENCE)
            assert len(held) == 3
            assert not any(sha256_hex("p1@mail.test") in row or sha256_hex("+14155550001") in row for row in held)
        assert warehouse.query(f"select reason from {LEDGER} where operation = 'remove'")["reason"].tolist() == [
            "no_consent"]


def test_engine_never_lets_raw_pii_reach_the_ad_platform(warehouse) -> None:
    with kit("ads") as k:
        engine = SyncEngine(warehouse, k.make(batch_size=7))
        members = desired(20)
        members["c005"] = {**members["c005"], "email": "  Mixed.Case@Mail.Test ", "phone": "(415) 555-0005"}
        engine.sync(AUDIENCE, members, mode="mirror", run_id="r1")
        engine.sync(AUDIENCE, {k_: v for k_, v in members.items() if k_ != "c003"}, mode="mirror", run_id="r2")
        assert len(k.server.requests) == 4 and {r.status for r in k.server.requests} == {200}
        text = json.dumps([[r.path, r.headers, r.body] for r in k.server.requests])
        leaked = [raw for raw in raw_identifiers(range(20)) + ["Mixed.Case", "mixed.case", "(415)"] if raw in text]
        assert leaked == []
        assert len(k.server.audience_members(AUDIENCE)) == 19


def test_engine_reports_rejected_records_with_the_platform_error(warehouse) -> None:
    with kit("esp") as k:
        k.server.reject_emails(AUDIENCE, ["p2@mail.test"])
        report = SyncEngine(warehouse, k.make()).sync(AUDIENCE, desired(4), mode="mirror", run_id="r1")
        assert (report.added, report.failed) == (3, 1)
        error = warehouse.query(f"select error from {LEDGER} where status = 'failed'")["error"].tolist()
        assert len(error) == 1 and error[0].startswith("ERROR_CONTACT_EXISTS_COMPLIANCE: ")


def test_engine_resends_a_batch_whose_answer_was_lost_and_it_applies_once(warehouse) -> None:
    with kit("esp") as k:
        engine = SyncEngine(warehouse, k.make(max_retries=0))
        k.server.faults.drop_after_apply_next(1)
        with pytest.raises(DestinationUnavailable, match="after 1 attempt"):
            engine.sync(AUDIENCE, desired(3), mode="mirror", run_id="r1")
        assert k.applied() == 3 and len(warehouse.query(f"select * from {OUTBOX}")) == 1
        report = engine.sync(AUDIENCE, desired(3), mode="mirror", run_id="r2")
        assert (report.recovered_batches, report.added, report.requests) == (1, 3, 1)
        assert [(r.dropped, r.replayed) for r in k.server.requests] == [(True, False), (False, True)]
        assert len({r.idempotency_key for r in k.server.requests}) == 1
        assert k.applied() == 3 and len(warehouse.query(f"select * from {OUTBOX}")) == 0


def test_engine_retries_a_rejected_record_as_a_new_request_until_it_is_accepted(warehouse) -> None:
    """Each retry carries a new idempotency key: the platform must not answer it from its
    store with the old rejection, or a record the platform would now take never gets there."""
    with kit("esp") as k:
        engine = SyncEngine(warehouse, k.make())
        k.server.reject_emails(AUDIENCE, ["p2@mail.test"])
        assert engine.sync(AUDIENCE, desired(4), mode="mirror", run_id="r1").failed == 1
        assert engine.sync(AUDIENCE, desired(4), mode="mirror", run_id="r2").failed == 1
        k.server.accept_emails(AUDIENCE, ["p2@mail.test"])
        report = engine.sync(AUDIENCE, desired(4), mode="mirror", run_id="r3")
        assert (report.added, report.failed) == (1, 0)
        assert "p2@mail.test" in k.server.members(AUDIENCE)
        keys = [r.idempotency_key for r in k.server.requests]
        assert len(keys) == len(set(keys)) == 3 and not any(r.replayed for r in k.server.requests)


@pytest.mark.parametrize("kind", ["esp", "ads"])
def test_engine_replaces_a_member_whose_identifying_field_changed(kind: str, warehouse) -> None:
    """A new email (or phone, for the ad platform) is a new member there: the old one goes."""
    with kit(kind) as k:
        engine = SyncEngine(warehouse, k.make())
        members = desired(3)
        engine.sync(AUDIENCE, members, mode="upsert", run_id="r1")
        members["c001"] = {**members["c001"], "email": "new.address@mail.test"}
        report = engine.sync(AUDIENCE, members, mode="upsert", run_id="r2")
        assert (report.removed, report.added, report.updated) == (1, 1, 0)
        reasons = warehouse.query(f"select operation, coalesce(reason, '-') as reason from {LEDGER} where sync_run_id = 'r2'"
                                  " order by operation")
        assert list(reasons.itertuples(index=False, name=None)) == [("add", "-"), ("remove", "identity_changed")]
        if kind == "esp":
            assert set(k.server.members(AUDIENCE)) == {"p0@mail.test", "new.address@mail.test", "p2@mail.test"}
        else:
            held = k.server.audience_members(AUDIENCE)
            assert len(held) == 3 and not any(sha256_hex("p1@mail.test") in row for row in held)
            assert any(sha256_hex("new.address@mail.test") in row for row in held)
        members["c002"] = {**members["c002"], "first_name": "Renamed"}  # not identifying: an update
        report = engine.sync(AUDIENCE, members, mode="upsert", run_id="r3")
        assert (report.removed, report.added, report.updated) == (0, 0, 1)
