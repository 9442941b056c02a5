"""The local CRM speaks HubSpot's CRM v3 shapes, limits and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dlt_sources.sample_world.crm_server import CrmServer, CrmStore

TOKEN = "test-token"


def seed(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contacts.jsonl").open("w") as handle:
        for n in range(1, count + 1):
            stamp = f"2026-01-{n:02d}T10:00:00.000Z"
            record = {
                "id": str(100 + n),
                "properties": {"email": f"person{n}@example.com", "firstname": f"P{n}", "lastname": "Test", "phone": None},
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
            }
            handle.write(json.dumps(record) + "\n")
    return folder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CrmServer]:
    CrmStore(tmp_path / "crm.sqlite").seed_from_jsonl(seed(tmp_path / "seed", 25))
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as crm:
        yield crm


def call(server: CrmServer, method: str, path: str, token: str = TOKEN, **kwargs) -> requests.Response:
    return requests.request(method, server.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)


def test_list_pages_through_every_contact_once(server: CrmServer) -> None:
    seen, after = [], None
    while True:
        page = call(server, "GET", "/crm/v3/objects/contacts", params={"limit": 10, "after": after, "properties": "email"}).json()
        seen += [record["id"] for record in page["results"]]
        assert all(set(record["properties"]) >= {"email", "hs_object_id", "lastmodifieddate"} for record in page["results"])
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert seen == [str(100 + n) for n in range(1, 26)]


def test_search_filters_on_modification_date_sorts_and_pages(server: CrmServer) -> None:
    body = {
        "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2026-01-20T10:00:00Z"}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["email"],
        "limit": 4,
    }
    first = call(server, "POST", "/crm/v3/objects/contacts/search", json=body).json()
    assert first["total"] == 6
    assert [r["properties"]["email"] for r in first["results"]] == [f"person{n}@example.com" for n in range(20, 24)]
    second = call(server, "POST", "/crm/v3/objects/contacts/search", json={**body, "after": first["paging"]["next"]["after"]}).json()
    assert [r["id"] for r in second["results"]] == ["124", "125"] and "paging" not in second
    millis = call(server, "POST", "/crm/v3/objects/contacts/search", json={**body, "filterGroups": [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1769767200000"}]}]}).json()  # 2026-01-30T10:00Z
    assert millis["total"] == 0


def test_hand_edits_and_batch_upserts_bump_the_modification_date(server: CrmServer) -> None:
    before = call(server, "GET", "/crm/v3/objects/contacts/101").json()
    server.store.update("contacts", 101, {"lifecyclestage": "customer"})
    after = call(server, "GET", "/crm/v3/objects/contacts/101", params={"properties": "lifecyclestage"}).json()
    assert after["properties"]["lifecyclestage"] == "customer"
    assert after["updatedAt"] > before["updatedAt"]

    response = call(server, "POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"idProperty": "email", "id": "PERSON2@example.com", "properties": {"firstname": "Changed"}},
        {"idProperty": "email", "id": "new@example.com", "properties": {"firstname": "New"}},
    ]})
    assert response.status_code == 201
    results = response.json()["results"]
    assert [(r["id"], r["new"]) for r in results] == [("102", False), ("126", True)]
    read = call(server, "POST", "/crm/v3/objects/contacts/batch/read", json={
        "idProperty": "email", "properties": ["firstname"], "inputs": [{"id": "new@example.com"}, {"id": "missing@example.com"}]})
    assert read.status_code == 207
    assert [r["properties"]["firstname"] for r in read.json()["results"]] == ["New"]
    assert read.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "fragment"),
    [
        ("GET", "/crm/v3/objects/contacts/999", None, 404, "resource not found"),
        ("POST", "/crm/v3/objects/contacts/search", {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]}, 400, "operator 'LIKE'"),
        ("POST", "/crm/v3/objects/contacts/search", {"limit": 500}, 400, "limit must be between 1 and 200"),
        ("POST", "/crm/v3/objects/contacts/search", {"after": "10000"}, 400, "at most 10000 results"),
        ("POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": [{"idProperty": "email", "id": "a@b.co", "properties": {"shoe_size": "9"}}]}, 400, 'Property "shoe_size" does not exist'),
        ("POST", "/crm/v3/objects/tickets/search", {}, 400, "Unable to infer object type"),
    ],
)
def test_errors_have_hubspot_status_and_body(server: CrmServer, method, path, body, status, fragment) -> None:
    response = call(server, method, path, json=body)
    assert response.status_code == status
    payload = response.json()
    assert payload["status"] == "error" and fragment in payload["message"] and payload["correlationId"]


def test_a_bad_token_is_refused(server: CrmServer) -> None:
    response = call(server, "GET", "/crm/v3/objects/contacts", token="wrong")
    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION"


def test_over_the_rate_limit_gets_429_with_retry_after(tmp_path: Path) -> None:
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN, rate_limit=(2, 5.0)) as crm:
        statuses = [call(crm, "GET", "/crm/v3/objects/contacts").status_code for _ in range(3)]
        limited = call(crm, "GET", "/crm/v3/objects/contacts")
    assert statuses == [200, 200, 429]
    assert limited.json()["category"] == "RATE_LIMITS"
    assert 1 <= int(limited.headers["Retry-After"]) <= 5


def test_only_loopback_addresses_are_served(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback addresses only"):
        CrmServer(tmp_path / "crm.sqlite", token=TOKEN, host="0.0.0.0")
