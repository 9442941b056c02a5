"""The sandbox destinations keep their contracts: auth, shapes, per-record errors, limits, faults, idempotency."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from dlt_sources.sample_world.sandbox import AdsServer, EspServer, WebhookServer
from dlt_sources.sample_world.sandbox.base import SandboxServer
from dlt_sources.sample_world.sandbox.webhook import sign

TOKEN = "sandbox-token"
SECRET = "webhook-secret"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def call(
    server: SandboxServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = TOKEN,
    key: str | None = None,
    timeout: float = 5.0,
    params: dict[str, Any] | None = None,
) -> requests.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["Idempotency-Key"] = key
    return requests.request(method, server.base_url + path, json=body, headers=headers, params=params, timeout=timeout)


def post_hook(
    server: WebhookServer,
    name: str,
    raw: bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    key: str | None = None,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    timestamp = int(time.time()) if timestamp is None else timestamp
    sent = {"Content-Type": "application/json", "X-CDP-Timestamp": str(timestamp), "X-CDP-Signature": sign(secret, timestamp, raw)}
    if key is not None:
        sent["Idempotency-Key"] = key
    sent.update(headers or {})
    return requests.post(f"{server.base_url}/hooks/{name}", data=raw, headers=sent, timeout=timeout)


def upsert(server: EspServer, members: list[dict[str, Any]], update_existing: bool = False, list_id: str = "aud") -> requests.Response:
    return call(server, "POST", f"/v1/lists/{list_id}/members:batch", {"members": members, "update_existing": update_existing})


def member(email: str, status: str = "subscribed", **merge_fields: Any) -> dict[str, Any]:
    return {"email_address": email, "status": status, "merge_fields": merge_fields}


# -- the same fault and idempotency behaviour on every server ---------------------------------


@dataclass
class Harness:
    """A server, a request that applies one distinct record per number, and a count of what was applied."""

    server: SandboxServer
    send: Callable[..., requests.Response]  # send(record, key=None, timeout=5.0)
    applied: Callable[[], int]


@contextmanager
def harness(kind: str, rate_limit: tuple[int, float] | None = None) -> Iterator[Harness]:
    if kind == "esp":
        with EspServer(TOKEN, rate_limit=rate_limit) as esp:
            esp.create_list("aud")

            def send_member(record: int, key: str | None = None, timeout: float = 5.0) -> requests.Response:
                # update_existing false: applying the same record twice would answer ERROR_MEMBER_EXISTS.
                body = {"members": [member(f"user{record}@example.com", FNAME=f"U{record}")], "update_existing": False}
                return call(esp, "POST", "/v1/lists/aud/members:batch", body, key=key, timeout=timeout)

            yield Harness(esp, send_member, lambda: len(esp.members("aud")))
    elif kind == "ads":
        with AdsServer(TOKEN, rate_limit=rate_limit) as ads:
            ads.create_audience("aud")

            def send_row(record: int, key: str | None = None, timeout: float = 5.0) -> requests.Response:
                body = {"schema": ["EMAIL_SHA256"], "data": [[sha256(f"user{record}@example.com")]]}
                return call(ads, "POST", "/v1/audiences/aud/users:add", body, key=key, timeout=timeout)

            yield Harness(ads, send_row, lambda: len(ads.audience_members("aud")))
    else:
        with WebhookServer(SECRET, rate_limit=rate_limit) as hooks:

            def send_event(record: int, key: str | None = None, timeout: float = 5.0) -> requests.Response:
                return post_hook(hooks, "orders", json.dumps({"event": record}).encode(), key=key, timeout=timeout)

            yield Harness(hooks, send_event, lambda: len(hooks.deliveries("orders")))


KINDS = ("esp", "ads", "webhook")


@pytest.mark.parametrize("kind", KINDS)
def test_configured_rate_limit_answers_429_with_retry_after_in_whole_seconds(kind: str) -> None:
    with harness(kind, rate_limit=(2, 1.0)) as h:
        assert [h.send(n).status_code for n in (1, 2)] == [200, 200]
        limited = h.send(3)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"
        assert limited.json()  # a JSON error body
        assert h.applied() == 2
        assert h.server.requests[-1].status == 429
        time.sleep(int(limited.headers["Retry-After"]))  # what a client is told to wait is enough
        assert h.send(3).status_code == 200
        assert h.applied() == 3


@pytest.mark.parametrize("kind", KINDS)
def test_rate_limit_next_answers_429_and_does_not_apply(kind: str) -> None:
    with harness(kind) as h:
        h.server.faults.rate_limit_next(1, retry_after=7)
        limited = h.send(1)
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
        assert h.applied() == 0
        assert h.server.requests[-1].injected == ("rate_limit",)
        assert h.send(1).status_code == 200
        assert h.applied() == 1


@pytest.mark.parametrize("kind", KINDS)
def test_fail_next_answers_the_status_without_applying_or_storing_the_key(kind: str) -> None:
    with harness(kind) as h:
        h.server.faults.fail_next(2, status=503)
        assert [h.send(1, key="k1").status_code for _ in range(2)] == [503, 503]
        assert h.applied() == 0
        retried = h.send(1, key="k1")
        assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
        assert h.applied() == 1
        assert [(r.status, r.injected, r.replayed) for r in h.server.requests] == [
            (503, ("fail",), False),
            (503, ("fail",), False),
            (200, (), False),
        ]
        h.server.faults.fail_next(1, path="/no/such/path")
        assert h.send(2).status_code == 200
        h.server.faults.clear()
        h.server.faults.fail_next(1)
        h.server.faults.clear()
        assert h.send(3).status_code == 200
        assert h.applied() == 3


@pytest.mark.parametrize("kind", KINDS)
def test_delay_next_times_a_client_out_and_then_applies_normally(kind: str) -> None:
    with harness(kind) as h:
        h.server.faults.delay_next(1, 0.3)
        with pytest.raises(requests.exceptions.ReadTimeout):
            h.send(1, key="slow", timeout=0.1)
        deadline = time.monotonic() + 3
        while h.applied() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert h.applied() == 1  # the client gave up, the server did the work anyway
        assert h.server.requests[0].injected == ("delay",)
        retried = h.send(1, key="slow")
        assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
        assert h.applied() == 1

        h.server.faults.delay_next(1, 0.3)
        started = time.monotonic()
        assert h.send(2).status_code == 200
        assert time.monotonic() - started >= 0.3
        assert h.applied() == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_repeated_idempotency_key_gets_the_stored_answer_and_is_not_applied(kind: str) -> None:
    with harness(kind) as h:
        first = h.send(1, key="batch-1")
        again = h.send(2, key="batch-1")  # even with another body: the key decides
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert h.applied() == 1
        assert [(r.idempotency_key, r.replayed) for r in h.server.requests] == [("batch-1", False), ("batch-1", True)]
        assert h.send(2, key="batch-2").status_code == 200
        assert h.applied() == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_request_dropped_after_apply_and_retried_with_its_key_is_applied_once(kind: str) -> None:
    with harness(kind) as h:
        h.server.faults.drop_after_apply_next(1)
        with pytest.raises(requests.exceptions.ConnectionError):
            h.send(1, key="batch-1")
        assert h.applied() == 1
        dropped = h.server.requests[-1]
        assert (dropped.dropped, dropped.status, dropped.injected) == (True, 200, ("drop",))
        retried = h.send(1, key="batch-1")
        assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
        assert h.server.requests[-1].replayed and not h.server.requests[-1].dropped
        assert h.applied() == 1


# -- ESP --------------------------------------------------------------------------------------


@pytest.fixture
def esp() -> Iterator[EspServer]:
    with EspServer(TOKEN) as server:
        server.create_list("aud", merge_fields=("FNAME", "LNAME"))
        yield server


def test_esp_needs_the_bearer_token(esp: EspServer) -> None:
    for token in (None, "wrong"):
        response = call(esp, "POST", "/v1/lists/aud/members:batch", {"members": [member("ann@example.com")]}, token=token)
        assert response.status_code == 401
        body = response.json()
        assert (body["status"], body["title"]) == (401, "API Key Invalid") and body["detail"]
    assert call(esp, "GET", "/v1/lists/aud/members", token="wrong").status_code == 401
    assert esp.members("aud") == {}
    assert [r.status for r in esp.requests] == [401, 401, 401]


def test_esp_upserts_updates_and_lists_members(esp: EspServer) -> None:
    created = upsert(esp, [member("Ann@Example.com", FNAME="Ann"), member("bob@example.com")])
    assert created.status_code == 200
    assert created.json() == {
        "new_members": [
            {"email_address": "Ann@Example.com", "id": hashlib.md5(b"ann@example.com").hexdigest()},
            {"email_address": "bob@example.com", "id": hashlib.md5(b"bob@example.com").hexdigest()},
        ],
        "updated_members": [],
        "errors": [],
        "total_created": 2,
        "total_updated": 0,
        "error_count": 0,
    }
    changed = upsert(esp, [member("ann@example.com", "unsubscribed", LNAME="Lee"), member("cy@example.com")], update_existing=True).json()
    assert [m["email_address"] for m in changed["updated_members"]] == ["ann@example.com"]
    assert [m["email_address"] for m in changed["new_members"]] == ["cy@example.com"]
    assert (changed["total_created"], changed["total_updated"], changed["error_count"]) == (1, 1, 0)
    assert esp.members("aud")["ann@example.com"] == {
        "id": hashlib.md5(b"ann@example.com").hexdigest(),
        "email_address": "ann@example.com",
        "status": "unsubscribed",
        "merge_fields": {"FNAME": "Ann", "LNAME": "Lee"},
    }
    page = call(esp, "GET", "/v1/lists/aud/members", params={"offset": 1, "count": 1}).json()
    assert page == {
        "members": [{"id": hashlib.md5(b"bob@example.com").hexdigest(), "email_address": "bob@example.com", "status": "subscribed", "merge_fields": {}}],
        "total_items": 3,
    }
    everyone = call(esp, "GET", "/v1/lists/aud/members", params={"count": 1000}).json()
    assert [m["email_address"] for m in everyone["members"]] == ["ann@example.com", "bob@example.com", "cy@example.com"]


def test_esp_per_record_errors_leave_the_rest_of_the_batch_applied(esp: EspServer) -> None:
    upsert(esp, [member("old@example.com", FNAME="Old")])
    esp.reject_emails("aud", ["Blocked@example.com"])
    answer = upsert(
        esp,
        [
            member("new@example.com", FNAME="New"),
            member("not-an-email"),
            member("odd@example.com", NICKNAME="x"),
            member("blocked@example.com"),
            member("old@example.com", FNAME="Changed"),
        ],
    ).json()
    assert {e["email_address"]: e["error_code"] for e in answer["errors"]} == {
        "not-an-email": "ERROR_INVALID_EMAIL",
        "odd@example.com": "ERROR_UNKNOWN_MERGE_FIELD",
        "blocked@example.com": "ERROR_CONTACT_EXISTS_COMPLIANCE",
        "old@example.com": "ERROR_MEMBER_EXISTS",
    }
    assert all(e["error"] for e in answer["errors"])
    assert (answer["total_created"], answer["total_updated"], answer["error_count"]) == (1, 0, 4)
    members = esp.members("aud")
    assert set(members) == {"old@example.com", "new@example.com"}
    assert members["old@example.com"]["merge_fields"] == {"FNAME": "Old"}


def test_esp_batch_remove_archives_members(esp: EspServer) -> None:
    upsert(esp, [member("ann@example.com", FNAME="Ann"), member("bob@example.com")])
    answer = call(esp, "POST", "/v1/lists/aud/members:batch-remove", {"emails": ["ANN@example.com", "ghost@example.com"]})
    assert answer.status_code == 200
    assert answer.json() == {
        "removed": [{"email_address": "ann@example.com", "id": hashlib.md5(b"ann@example.com").hexdigest()}],
        "errors": [{"email_address": "ghost@example.com", "error": answer.json()["errors"][0]["error"], "error_code": "ERROR_NOT_FOUND"}],
    }
    assert set(esp.members("aud")) == {"bob@example.com"}
    assert esp.members("aud", include_archived=True)["ann@example.com"]["status"] == "archived"
    assert call(esp, "GET", "/v1/lists/aud/members").json()["total_items"] == 1
    again = call(esp, "POST", "/v1/lists/aud/members:batch-remove", {"emails": ["ann@example.com"]}).json()
    assert (len(again["removed"]), again["errors"]) == (1, [])
    readded = upsert(esp, [member("ann@example.com")]).json()
    assert readded["total_created"] == 1
    assert esp.members("aud")["ann@example.com"]["merge_fields"] == {"FNAME": "Ann"}


def test_esp_limits_malformed_requests_and_unknown_lists(esp: EspServer) -> None:
    too_many = upsert(esp, [member(f"u{n}@example.com") for n in range(501)])
    assert too_many.status_code == 400 and too_many.json()["title"] == "Invalid Resource"
    assert esp.members("aud") == {}
    bad_status = upsert(esp, [member("a@example.com"), member("b@example.com", status="pending")])
    assert bad_status.status_code == 400
    assert esp.members("aud") == {}
    assert upsert(esp, [member(f"u{n}@example.com") for n in range(500)]).json()["total_created"] == 500
    remove_many = call(esp, "POST", "/v1/lists/aud/members:batch-remove", {"emails": [f"u{n}@example.com" for n in range(501)]})
    assert remove_many.status_code == 400
    assert len(esp.members("aud")) == 500
    assert call(esp, "GET", "/v1/lists/aud/members", params={"count": 1001}).status_code == 400
    assert len(call(esp, "GET", "/v1/lists/aud/members", params={"count": 1000}).json()["members"]) == 500
    missing = upsert(esp, [member("a@example.com")], list_id="nope")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert call(esp, "GET", "/v1/lists/nope/members").status_code == 404
    assert call(esp, "POST", "/v1/lists/aud/members", {}).status_code == 405


def test_esp_an_idempotency_key_answered_with_an_error_is_not_stored(esp: EspServer) -> None:
    body = {"members": [member("ann@example.com")]}
    assert call(esp, "POST", "/v1/lists/later/members:batch", body, key="k").status_code == 404
    esp.create_list("later")
    retried = call(esp, "POST", "/v1/lists/later/members:batch", body, key="k")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers
    assert set(esp.members("later")) == {"ann@example.com"}


# -- ads ------------------------------------------------------------------------------------


@pytest.fixture
def ads() -> Iterator[AdsServer]:
    with AdsServer(TOKEN) as server:
        server.create_audience("aud")
        yield server


def add(server: AdsServer, schema: list[str], data: list[list[Any]], audience: str = "aud", action: str = "add") -> requests.Response:
    return call(server, "POST", f"/v1/audiences/{audience}/users:{action}", {"schema": schema, "data": data})


def test_ads_needs_the_bearer_token(ads: AdsServer) -> None:
    for token in (None, "wrong"):
        response = call(ads, "POST", "/v1/audiences/aud/users:add", {"schema": ["EMAIL_SHA256"], "data": [[sha256("a")]]}, token=token)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 401
    assert ads.audience_members("aud") == set()


def test_ads_adds_and_removes_hashed_users(ads: AdsServer) -> None:
    e1, p1, e2, e3, p3 = (sha256(v) for v in ("ann@example.com", "+15550001", "bob@example.com", "cy@example.com", "+15550003"))
    answer = add(ads, ["EMAIL_SHA256", "PHONE_SHA256"], [[e1, p1], [e2, ""]])
    assert answer.status_code == 200
    assert answer.json() == {"audience_id": "aud", "num_received": 2, "num_invalid_entries": 0, "invalid_entry_samples": []}
    add(ads, ["PHONE_SHA256", "EMAIL_SHA256"], [[p3, e3], [p1, e1]])
    assert ads.audience_members("aud") == {(e1, p1), (e2, ""), (e3, p3)}
    removed = add(ads, ["PHONE_SHA256"], [[p1]], action="remove")
    assert removed.json()["num_received"] == 1
    add(ads, ["EMAIL_SHA256"], [[e3]], action="remove")
    assert ads.audience_members("aud") == {(e2, "")}


def test_ads_invalid_rows_are_reported_and_the_rest_applies(ads: AdsServer) -> None:
    good, other = sha256("ann@example.com"), sha256("bob@example.com")
    answer = add(
        ads,
        ["EMAIL_SHA256", "PHONE_SHA256"],
        [[good, ""], ["not-a-hash", ""], [good.upper(), ""], [other], ["", ""], [other, 5], [other, ""]],
    ).json()
    assert answer["num_received"] == 7
    assert answer["num_invalid_entries"] == 5
    assert [sample["row"] for sample in answer["invalid_entry_samples"]] == [1, 2, 3, 4, 5]
    assert all(sample["reason"] for sample in answer["invalid_entry_samples"])
    assert ads.audience_members("aud") == {(good, ""), (other, "")}


@pytest.mark.parametrize("raw", ["ann@example.com", "+15551234567", "5551234567", "(555) 123-4567"])
def test_ads_refuses_raw_personal_data_for_the_whole_request(ads: AdsServer, raw: str) -> None:
    answer = add(ads, ["EMAIL_SHA256", "PHONE_SHA256"], [[sha256("ann@example.com"), ""], ["", raw]])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 400 and "raw personal data" in error["message"]
    assert ads.audience_members("aud") == set()


def test_ads_limits_and_unknown_audiences(ads: AdsServer) -> None:
    rows = [[sha256(f"user{n}@example.com")] for n in range(10_001)]
    too_many = add(ads, ["EMAIL_SHA256"], rows)
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == 413
    assert ads.audience_members("aud") == set()
    assert add(ads, ["EMAIL_SHA256"], rows[:10_000]).json()["num_received"] == 10_000
    assert len(ads.audience_members("aud")) == 10_000
    assert add(ads, ["EMAIL_SHA256"], rows[:1], audience="nope").status_code == 404
    assert add(ads, ["EMAIL"], rows[:1]).status_code == 400


# -- webhook ----------------------------------------------------------------------------------


@pytest.fixture
def hooks() -> Iterator[WebhookServer]:
    with WebhookServer(SECRET) as server:
        yield server


def test_sign_is_the_documented_hmac_scheme() -> None:
    body = b'{"event": 1}'
    expected = "sha256=" + hmac.new(b"s3cret", b'1700000000.{"event": 1}', hashlib.sha256).hexdigest()
    assert sign(b"s3cret", 1_700_000_000, body) == expected
    assert sign("s3cret", 1_700_000_000, body) == expected


def test_webhook_stores_signed_deliveries_in_order(hooks: WebhookServer) -> None:
    first = post_hook(hooks, "orders", b'{"event": 1}')
    post_hook(hooks, "crm", b'{"event": "x"}')
    post_hook(hooks, "orders", b'[{"event": 2}]')
    assert first.status_code == 200 and first.json() == {"id": "dlv_1", "name": "orders"}
    orders = hooks.deliveries("orders")
    assert [d.body for d in orders] == [{"event": 1}, [{"event": 2}]]
    assert orders[0].name == "orders" and orders[0].headers["X-CDP-Signature"].startswith("sha256=")
    assert [d.body for d in hooks.deliveries("crm")] == [{"event": "x"}]
    assert set(hooks.requests[0].headers) >= {"X-CDP-Timestamp", "X-CDP-Signature"}


@pytest.mark.parametrize(
    "case",
    ["no signature", "wrong secret", "tampered body", "stale timestamp", "future timestamp", "bad timestamp"],
)
def test_webhook_refuses_unsigned_forged_and_stale_deliveries(hooks: WebhookServer, case: str) -> None:
    body, now = b'{"event": 1}', int(time.time())
    if case == "no signature":
        response = requests.post(f"{hooks.base_url}/hooks/orders", data=body, headers={"X-CDP-Timestamp": str(now)}, timeout=5)
    elif case == "wrong secret":
        response = post_hook(hooks, "orders", body, secret="guess")
    elif case == "tampered body":
        response = post_hook(hooks, "orders", body, headers={"X-CDP-Signature": sign(SECRET, now, b'{"event": 2}'), "X-CDP-Timestamp": str(now)})
    elif case == "stale timestamp":
        response = post_hook(hooks, "orders", body, timestamp=now - 301)
    elif case == "future timestamp":
        response = post_hook(hooks, "orders", body, timestamp=now + 301)
    else:
        response = post_hook(hooks, "orders", body, headers={"X-CDP-Timestamp": "yesterday"})
    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert hooks.deliveries("orders") == []
    assert post_hook(hooks, "orders", body, timestamp=now - 200).status_code == 200  # within the tolerance


def test_webhook_needs_a_json_body(hooks: WebhookServer) -> None:
    assert post_hook(hooks, "orders", b"not json").status_code == 400
    assert post_hook(hooks, "orders", b"").status_code == 400
    assert hooks.deliveries("orders") == []
