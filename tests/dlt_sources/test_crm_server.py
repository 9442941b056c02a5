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
        ("GET", "/crm/v3/properties/contacts/shoe_size", None, 404, "Unable to find property shoe_size"),
        ("PATCH", "/crm/v3/objects/contacts/101", {"properties": {"lastmodifieddate": "1"}}, 400, 'Property "lastmodifieddate" is read-only'),
        ("PATCH", "/crm/v3/objects/contacts/101", {"properties": {"lifecyclestage": "prospect"}}, 400, "prospect was not one of the allowed options"),
        ("POST", "/crm/v3/objects/contacts", {"properties": {"email": "PERSON3@example.com"}}, 409, "Contact already exists. Existing ID: 103"),
        ("POST", "/crm/v3/objects/deals", {"properties": {"amount": "a lot"}}, 400, "a lot was not a valid number"),
        ("GET", "/crm/v4/objects/deals/999/associations/contacts", None, 404, "resource not found"),
        ("GET", "/crm/v3/owners/1", None, 404, "resource not found: owner 1"),
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


# -- custom properties -----------------------------------------------------------------------


def test_custom_properties_are_defined_listed_and_written(server: CrmServer) -> None:
    definition = {"name": "cdp_customer_id", "label": "CDP customer id", "type": "string", "fieldType": "text",
                  "groupName": "contactinformation"}
    created = call(server, "POST", "/crm/v3/properties/contacts", json=definition)
    assert created.status_code == 201
    assert {k: created.json()[k] for k in definition} == definition and "hubspotDefined" not in created.json()
    again = call(server, "POST", "/crm/v3/properties/contacts", json=definition)
    assert again.status_code == 409 and again.json()["category"] == "OBJECT_ALREADY_EXISTS"
    # defined through the store (another connection to the same database) just as well
    server.store.create_property("contacts", "cdp_score", "CDP score", "number", "number", "cdpinformation")
    server.store.create_property("contacts", "cdp_tier", "Tier", "enumeration", "select", "cdpinformation",
                                 options=[{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}])

    names = [p["name"] for p in call(server, "GET", "/crm/v3/properties/contacts").json()["results"]]
    assert {"email", "lifecyclestage", "cdp_customer_id", "cdp_score", "cdp_tier"} <= set(names)
    assert names.index("email") < names.index("cdp_customer_id")  # built-in first
    tier = call(server, "GET", "/crm/v3/properties/contact/cdp_tier").json()  # singular type name, as HubSpot allows
    assert [o["value"] for o in tier["options"]] == ["gold", "silver"]
    assert "cdp_customer_id" not in {p["name"] for p in call(server, "GET", "/crm/v3/properties/deals").json()["results"]}

    patched = call(server, "PATCH", "/crm/v3/objects/contacts/PERSON1@example.com", params={"idProperty": "email"},
                   json={"properties": {"cdp_customer_id": "c-1", "cdp_score": "10"}})
    assert patched.json()["id"] == "101"
    assert patched.status_code == 200 and patched.json()["properties"]["cdp_customer_id"] == "c-1"
    updated = call(server, "POST", "/crm/v3/objects/contacts/batch/update", json={"inputs": [
        {"id": "102", "properties": {"cdp_score": "9", "cdp_tier": "gold"}}]})
    assert updated.status_code == 200 and updated.json()["results"][0]["properties"]["cdp_tier"] == "gold"
    read = call(server, "GET", "/crm/v3/objects/contacts/101", params={"properties": "cdp_customer_id,cdp_score"}).json()
    assert read["properties"]["cdp_customer_id"] == "c-1" and read["properties"]["cdp_score"] == "10"
    # a custom number compares as a number in a search ("10" > "9")
    found = call(server, "POST", "/crm/v3/objects/contacts/search", json={
        "filterGroups": [{"filters": [{"propertyName": "cdp_score", "operator": "GT", "value": "9"}]}]}).json()
    assert [r["id"] for r in found["results"]] == ["101"]

    for properties, fragment in (
        ({"cdp_unknown": "x"}, 'Property "cdp_unknown" does not exist'),
        ({"cdp_tier": "bronze"}, "bronze was not one of the allowed options"),
        ({"cdp_score": "ten"}, "ten was not a valid number"),
    ):
        refused = call(server, "POST", "/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
            {"idProperty": "email", "id": "new@example.com", "properties": {"firstname": "New"}},
            {"idProperty": "email", "id": "person4@example.com", "properties": properties}]})
        assert refused.status_code == 400 and fragment in refused.json()["message"], refused.json()
        assert refused.json()["errors"][0]["context"]["propertyName"] == [next(iter(properties))]
    # a refused batch writes nothing, not even its valid inputs
    assert server.store.get_by_email("contacts", "new@example.com") is None


def test_property_groups_are_listed_and_created_once(server: CrmServer) -> None:
    path = "/crm/v3/properties/contacts/groups"
    assert [g["name"] for g in call(server, "GET", path).json()["results"]] == ["contactinformation"]
    created = call(server, "POST", path, json={"name": "opencdp", "label": "OpenCDP"})
    assert created.status_code == 201 and created.json()["label"] == "OpenCDP"
    again = call(server, "POST", path, json={"name": "opencdp", "label": "Again"})
    assert again.status_code == 409 and "already exists" in again.json()["message"]
    refused = call(server, "POST", path, json={"name": "Open CDP", "label": "x"})
    assert refused.status_code == 400 and "lower-case" in refused.json()["message"]
    assert [g["name"] for g in call(server, "GET", path).json()["results"]] == ["contactinformation", "opencdp"]
    assert [g["name"] for g in call(server, "GET", "/crm/v3/properties/deals/groups").json()["results"]] == \
        ["dealinformation"]


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ({"name": "Shoe Size"}, "Invalid property name"),
        ({"name": "hs_mine"}, "hs_ prefix is reserved"),
        ({"type": "blob"}, "Invalid property type 'blob'"),
        ({"type": "number", "fieldType": "text"}, "fieldType 'text' is not valid for a number property"),
        ({"type": "enumeration", "fieldType": "select"}, "an enumeration property needs options"),
        ({"label": ""}, "`label` is required"),
        ({"groupName": None}, "`groupName` is required"),
    ],
)
def test_bad_property_definitions_are_refused(server: CrmServer, definition: dict, fragment: str) -> None:
    body = {"name": "shoe_size", "label": "Shoe size", "type": "string", "fieldType": "text", "groupName": "contactinformation",
            **definition}
    response = call(server, "POST", "/crm/v3/properties/contacts", json=body)
    assert response.status_code == 400 and fragment in response.json()["message"]
    assert "shoe_size" not in {p["name"] for p in call(server, "GET", "/crm/v3/properties/contacts").json()["results"]}


# -- deals, associations, owners -------------------------------------------------------------


def test_deals_are_created_searched_listed_and_batched(server: CrmServer) -> None:
    created = call(server, "POST", "/crm/v3/objects/deals", json={"properties": {
        "dealname": "Tents for the club", "amount": "1200", "dealstage": "qualifiedtobuy", "pipeline": "default",
        "closedate": "2026-03-01T00:00:00Z", "hubspot_owner_id": "41000001"}})
    assert created.status_code == 201
    deal = created.json()
    assert deal["properties"]["closedate"] == "2026-03-01T00:00:00.000Z"
    assert set(deal["properties"]) >= {"dealname", "amount", "dealstage", "pipeline", "hs_lastmodifieddate", "hs_object_id", "hubspot_owner_id"}
    assert deal["properties"]["hs_lastmodifieddate"] == deal["updatedAt"]
    server.store.create("deals", {"dealname": "Kit", "amount": "90.5", "dealstage": "closedwon"})

    listed = call(server, "GET", "/crm/v3/objects/deals", params={"properties": "dealname"}).json()
    assert [r["properties"]["dealname"] for r in listed["results"]] == ["Tents for the club", "Kit"]
    search = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": deal["updatedAt"]}]}],
              "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}], "properties": ["amount"]}
    found = call(server, "POST", "/crm/v3/objects/deals/search", json=search).json()
    assert found["total"] == 2 and [r["properties"]["amount"] for r in found["results"]] == ["1200", "90.5"]
    big = call(server, "POST", "/crm/v3/objects/deals/search", json={
        "filterGroups": [{"filters": [{"propertyName": "amount", "operator": "GT", "value": "100"}]}]}).json()
    assert [r["id"] for r in big["results"]] == [deal["id"]]  # numbers compare as numbers, not text

    moved = call(server, "POST", "/crm/v3/objects/deals/batch/update", json={"inputs": [
        {"id": deal["id"], "properties": {"dealstage": "closedwon"}}]})
    assert moved.status_code == 200
    result = moved.json()["results"][0]
    assert result["id"] == deal["id"] and result["properties"]["dealstage"] == "closedwon"
    assert result["updatedAt"] > deal["updatedAt"] and result["properties"]["hs_lastmodifieddate"] == result["updatedAt"]
    read = call(server, "POST", "/crm/v3/objects/deal/batch/read", json={"inputs": [{"id": deal["id"]}], "properties": ["dealstage"]})
    assert read.json()["results"][0]["properties"]["dealstage"] == "closedwon"


def test_v4_associations_are_paged_both_ways_and_move_the_modification_dates(server: CrmServer) -> None:
    deal = server.store.create("deals", {"dealname": "Club order"})
    before = call(server, "GET", f"/crm/v3/objects/contacts/101").json()["updatedAt"]
    put = call(server, "PUT", f"/crm/v4/objects/deals/{deal['id']}/associations/default/contacts/101")
    assert put.status_code == 200 and put.json()["status"] == "COMPLETE"
    assert {(r["from"]["id"], r["to"]["id"], r["associationSpec"]["associationTypeId"]) for r in put.json()["results"]} == {
        (deal["id"], "101", 3), ("101", deal["id"], 4)}
    assert call(server, "GET", "/crm/v3/objects/contacts/101").json()["updatedAt"] > before
    after_put = call(server, "GET", f"/crm/v3/objects/deals/{deal['id']}").json()["updatedAt"]
    assert after_put > deal["updatedAt"]
    call(server, "PUT", f"/crm/v4/objects/deals/{deal['id']}/associations/default/contacts/101")  # already there
    assert call(server, "GET", f"/crm/v3/objects/deals/{deal['id']}").json()["updatedAt"] == after_put
    for contact in (105, 103, 104):
        server.store.associate("deals", deal["id"], "contacts", contact)

    pages, after = [], None
    while True:
        page = call(server, "GET", f"/crm/v4/objects/deals/{deal['id']}/associations/contacts",
                    params={"limit": 3, "after": after}).json()
        pages.append([r["toObjectId"] for r in page["results"]])
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert pages == [[101, 103, 104], [105]]
    assert page["results"][0]["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}]
    reverse = call(server, "GET", "/crm/v4/objects/contacts/103/associations/deals").json()
    assert reverse["results"] == [{"toObjectId": int(deal["id"]), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None}]}]

    assert call(server, "DELETE", f"/crm/v4/objects/deals/{deal['id']}/associations/contacts/104").status_code == 204
    before_archive = call(server, "GET", f"/crm/v3/objects/deals/{deal['id']}").json()["updatedAt"]
    server.store.archive("contacts", 105)  # an archived contact is no longer listed, and its deal moved
    assert call(server, "GET", f"/crm/v3/objects/deals/{deal['id']}").json()["updatedAt"] > before_archive
    listed = call(server, "GET", f"/crm/v4/objects/deals/{deal['id']}/associations/contacts").json()
    assert [r["toObjectId"] for r in listed["results"]] == [101, 103] and "paging" not in listed
    missing = call(server, "PUT", f"/crm/v4/objects/deals/{deal['id']}/associations/default/contacts/999")
    assert missing.status_code == 404


def test_owners_are_listed_paged_and_read(tmp_path: Path) -> None:
    folder = seed(tmp_path / "seed", 3)
    with (folder / "owners.jsonl").open("w") as handle:
        for n in range(5):
            handle.write(json.dumps({"id": str(41_000_001 + n), "email": f"rep{n}@northwind.example", "type": "PERSON",
                                     "firstName": f"Rep{n}", "lastName": "Seller", "userId": 9_000_000 + n,
                                     "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-06-01T00:00:00.000Z",
                                     "archived": False}) + "\n")
    CrmStore(tmp_path / "crm.sqlite").seed_from_jsonl(folder)
    with CrmServer(tmp_path / "crm.sqlite", token=TOKEN) as crm:
        seen, after = [], None
        while True:
            page = call(crm, "GET", "/crm/v3/owners", params={"limit": 2, "after": after}).json()
            seen += page["results"]
            if "paging" not in page:
                break
            after = page["paging"]["next"]["after"]
        assert [o["id"] for o in seen] == [str(41_000_001 + n) for n in range(5)]
        assert seen[0] == {
            "id": "41000001", "email": "rep0@northwind.example", "type": "PERSON", "firstName": "Rep0", "lastName": "Seller",
            "userId": 9_000_000, "userIdIncludingInactive": 9_000_000, "createdAt": "2025-01-01T00:00:00.000Z",
            "updatedAt": "2025-06-01T00:00:00.000Z", "archived": False,
        }
        assert call(crm, "GET", "/crm/v3/owners/41000003").json()["firstName"] == "Rep2"
        assert call(crm, "GET", "/crm/v3/owners/9000004", params={"idProperty": "userId"}).json()["id"] == "41000005"
        by_email = call(crm, "GET", "/crm/v3/owners", params={"email": "REP4@northwind.example"}).json()["results"]
        assert [o["id"] for o in by_email] == ["41000005"]
        assert call(crm, "GET", "/crm/v3/owners", params={"limit": 501}).status_code == 400


# -- deleting --------------------------------------------------------------------------------


def test_deleted_objects_leave_reads_and_are_listed_as_archived(server: CrmServer) -> None:
    assert call(server, "DELETE", "/crm/v3/objects/contacts/103").status_code == 204
    assert call(server, "DELETE", "/crm/v3/objects/contacts/103").status_code == 204  # idempotent, as HubSpot's
    batch_archive = call(server, "POST", "/crm/v3/objects/contacts/batch/archive", json={"inputs": [{"id": "110"}, {"id": "111"}]})
    assert batch_archive.status_code == 204 and batch_archive.content == b""
    assert call(server, "GET", "/crm/v3/objects/contacts/103").status_code == 404
    one = call(server, "GET", "/crm/v3/objects/contacts/103", params={"archived": "true"}).json()
    assert one["archived"] is True and one["archivedAt"] >= one["createdAt"]

    archived, after = [], None
    while True:
        page = call(server, "GET", "/crm/v3/objects/contacts", params={"archived": "true", "limit": 2, "after": after}).json()
        archived += page["results"]
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert [r["id"] for r in archived] == ["103", "110", "111"]
    assert all(r["archived"] is True and r["archivedAt"] for r in archived)
    live = call(server, "GET", "/crm/v3/objects/contacts", params={"limit": 100}).json()["results"]
    assert len(live) == 22 and not {"103", "110", "111"} & {r["id"] for r in live}
    assert all(r["archived"] is False and "archivedAt" not in r for r in live)
    search = call(server, "POST", "/crm/v3/objects/contacts/search", json={"limit": 100}).json()
    assert search["total"] == 22
    assert server.store.archive("contacts", 104) is True and server.store.archive("contacts", 104) is False


def test_batches_with_missing_or_archived_ids_answer_207_for_those_only(server: CrmServer) -> None:
    server.store.archive("contacts", 105)
    update = call(server, "POST", "/crm/v3/objects/contacts/batch/update", json={"inputs": [
        {"id": "101", "properties": {"firstname": "Ann"}},
        {"id": "999", "properties": {"firstname": "Nobody"}},
        {"id": "105", "properties": {"firstname": "Gone"}},
        {"id": "person2@example.com", "idProperty": "email", "properties": {"jobtitle": "Buyer"}},
        {"id": "nobody@example.com", "idProperty": "email", "properties": {"jobtitle": "Buyer"}},
    ]})
    assert update.status_code == 207
    body = update.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    assert [(r["id"], r["properties"].get("firstname"), r["properties"].get("jobtitle")) for r in body["results"]] == [
        ("101", "Ann", None), ("102", "P2", "Buyer")]
    assert all(r["updatedAt"] == r["properties"]["lastmodifieddate"] for r in body["results"])
    [error] = body["errors"]
    assert error["status"] == "error" and error["category"] == "OBJECT_NOT_FOUND"
    assert error["context"] == {"ids": ["999", "105", "nobody@example.com"]} and "CONTACT" in error["message"]
    assert call(server, "GET", "/crm/v3/objects/contacts/105", params={"archived": "true", "properties": "firstname"}).json()[
        "properties"]["firstname"] == "P5"  # the archived one was not written

    read = call(server, "POST", "/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "101"}, {"id": "105"}, {"id": "998"}]})
    assert read.status_code == 207
    assert [r["id"] for r in read.json()["results"]] == ["101"]
    assert read.json()["errors"] == [{**read.json()["errors"][0], "context": {"ids": ["105", "998"]}}]
    complete = call(server, "POST", "/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "101"}]})
    assert complete.status_code == 200 and "errors" not in complete.json()

    created = call(server, "POST", "/crm/v3/objects/contacts/batch/create", json={"inputs": [
        {"properties": {"email": "a@example.com", "firstname": "A"}}, {"properties": {"email": "b@example.com"}}]})
    assert created.status_code == 201
    assert [(r["id"], r["properties"]["email"], bool(r["updatedAt"])) for r in created.json()["results"]] == [
        ("126", "a@example.com", True), ("127", "b@example.com", True)]
    duplicate = call(server, "POST", "/crm/v3/objects/contacts/batch/update", json={"inputs": [
        {"id": "101", "properties": {}}, {"id": "101", "properties": {}}]})
    assert duplicate.status_code == 400 and "Duplicate IDs" in duplicate.json()["message"]


# -- fault injection -------------------------------------------------------------------------


def test_injected_faults_fail_the_matching_requests_only(server: CrmServer) -> None:
    fault = server.fail(r"/contacts/search$", status=503, times=2, after=1, method="POST")
    statuses = [call(server, "POST", "/crm/v3/objects/contacts/search", json={}).status_code for _ in range(4)]
    assert statuses == [200, 503, 503, 200]
    assert (fault.seen, fault.failed) == (4, 2)
    assert call(server, "GET", "/crm/v3/objects/contacts").status_code == 200  # other paths and methods go through
    down = server.fail(r"^/crm/", status=503, times=None)
    failed = call(server, "GET", "/crm/v3/objects/contacts/101", token="wrong")  # an outage answers before auth
    assert failed.status_code == 503 and failed.json()["category"] == "SERVICE_UNAVAILABLE"
    assert call(server, "GET", "/crm/v3/owners").status_code == 503
    server.clear_faults()
    assert down.failed == 2 and call(server, "GET", "/crm/v3/owners").status_code == 200

    server.fail("/owners", status=429)
    limited = call(server, "GET", "/crm/v3/owners")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    server.fail("/owners", status=0)
    with pytest.raises(requests.ConnectionError):
        call(server, "GET", "/crm/v3/owners")

    log = server.requests
    assert log[:5] == [("POST", "/crm/v3/objects/contacts/search")] * 4 + [("GET", "/crm/v3/objects/contacts")]
    assert log[-1] == ("GET", "/crm/v3/owners") and log[-1].method == "GET"
    assert server.requests_served == len(log) == 10
    with pytest.raises(ValueError, match="error status"):
        server.fail("/x", status=200)
