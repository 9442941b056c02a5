"""The access export: everything held about one person, as one JSON document, and nobody else's data."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from activations.governance import access, audit
from activations.governance.people import resolve
from expectations.warehouse import DuckDBWarehouse
from tests.activations import privacy_warehouse
from tests.activations.privacy_warehouse import ANA_EMAIL, BOB_EMAIL

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return privacy_warehouse.build(tmp_path_factory.mktemp("access") / "wh.duckdb")


@pytest.fixture
def warehouse(built: Path):
    with DuckDBWarehouse(built, read_only=True) as warehouse:
        yield warehouse


@pytest.fixture
def document(warehouse) -> dict:
    return access.export(warehouse, resolve(warehouse, "phone:+1 415 555 0134"), identifier_type="phone", now=NOW)


def test_the_document_holds_every_section_of_the_person(document: dict) -> None:
    assert document["request"] == {"format": "opencdp.access_export", "version": 1,
                                   "generated_at": "2026-03-01T12:00:00Z", "identifier_type": "phone"}
    assert "+14155550134" not in json.dumps(document["request"])  # the request does not echo the identifier
    customer = document["customer"]
    assert (customer["customer_id"], customer["status"], customer["customer_ids"]) == (
        "cus_ana", "active", ["cus_ana", "cus_ana_old"])
    assert [c["customer_id"] for c in customer["customers"]] == ["cus_ana_old", "cus_ana"]  # by issued_at
    assert {(i["identifier_type"], i["identifier_value"]) for i in document["identifiers"]} == {
        ("email", ANA_EMAIL), ("phone", "+14155550134"), ("user_id", "u_ana"), ("crm_contact_id", "501"),
        ("device_id", "dev-shared")}
    assert document["profile"] == {"customer_id": "cus_ana", "first_name": "Ana", "email": ANA_EMAIL,
                                   "orders_count": 1}
    assert document["traits"]["rfm_segment"] == "champions"

    records = document["records"]
    assert [e["event_key"] for e in records["events/events"]] == ["e1", "e2"]
    e1, e2 = records["events/events"]
    assert e1["occurred_at"] == "2026-02-01T10:00:00Z" and e1["revenue"] is None and e1["products"] == []
    assert e2["occurred_at"] == "2026-02-02T11:30:00.250000Z" and e2["revenue"] == 19.5
    assert e2["consent_advertising"] is None and e1["consent_advertising"] is False
    assert [p["product_name"] for p in e2["products"]] == ["Tent"]
    (order,) = records["commerce/orders"]
    assert order["record_ref"] == "commerce/orders/o1"
    assert order["total_amount"] == 121.88 and order["shipped_on"] == "2026-02-03"
    assert [(line["order_line_id"], line["line_amount"]) for line in order["lines"]] == [("o1-1", 100), ("o1-2", 21.88)]
    assert [c["contact_id"] for c in records["crm/contacts"]] == ["501"]
    assert [m["record_ref"] for m in records["email/email_events"]] == ["email/email_events/m1"]

    assert [(c["channel"], c["status"], c["signal_record_ref"]) for c in document["consent"]["current"]] == [
        ("ads", "denied", "events/events/e1"), ("email", "granted", "email/email_events/m1"), ("sms", "unknown", None)]
    assert [(s["channel"], s["signal_type"]) for s in document["consent"]["signals"]] == [
        ("ads", "opt_out"), ("email", "opt_in")]

    assert [(m["audience"], m["entered_at"]) for m in document["audiences"]["members"]] == [
        ("rfm_champions", "2026-02-05T05:59:00Z")]
    assert [h["change"] for h in document["audiences"]["membership_history"]] == ["entered"]
    ledger = document["activation"]["ledger"]
    assert [(r["destination"], r["status"], r["error"], r["recorded_at"]) for r in ledger] == [
        ("email_platform", "sent", None, "2026-02-05T06:00:00Z"),
        ("ad_platform", "failed", "HTTP 503", "2026-02-05T06:00:01Z")]
    (state,) = document["activation"]["destination_state"]
    assert state["sent_fields"] == {"email": ANA_EMAIL}  # JSON text comes back as JSON
    assert [e["contact_id"] for e in document["crm_sync"]["contact_edits"]] == ["501"]
    # her side of the suggestion only: the other contact is Bob's
    assert document["crm_sync"]["merge_suggestions"] == [
        {"contact_id": "501", "suggested_to": "keep", "evidence": "deterministic:phone", "links": 2,
         "match_probability": 1.0}]


def test_stages_that_never_ran_give_empty_sections(document: dict) -> None:
    assert document["records"]["support/tickets"] == [] and document["records"]["lists/list_members"] == []
    assert document["records"]["commerce/customers"] == [] and document["records"]["crm/deals"] == []
    assert document["audiences"]["computed"] == [] and document["traits_history"] == []
    assert document["customer"]["merge_history"] == [] and document["suppressions"] == []
    assert document["crm_sync"]["deleted_contacts"] == []


def test_the_document_is_json_and_holds_nothing_of_anyone_else(document: dict) -> None:
    text = access.to_json(document)
    assert json.loads(text) == document
    for other in (BOB_EMAIL, "cus_bob", "502", "o2", "e3", "Stove", "new_subscribers", "h3"):
        assert other not in text, other


def test_counts_per_section(document: dict) -> None:
    counts = access.counts(document)
    assert counts["records.events/events"] == 2 and counts["records.commerce/orders"] == 1
    assert counts["activation.ledger"] == 2 and counts["identifiers"] == 5
    assert counts["profile"] == 1 and counts["traits_history"] == 0 and counts["customer.customer_ids"] == 2
    assert counts["consent.current"] == 3 and counts["consent.signals"] == 2


def test_reading_in_chunks_gives_the_same_document(warehouse, document: dict, monkeypatch) -> None:
    monkeypatch.setattr(access, "CHUNK", 1)  # one key per query: every `in` list is split, rows deduplicated
    again = access.export(warehouse, resolve(warehouse, "cus_ana"), identifier_type="phone", now=NOW)
    assert again == document


def test_a_merged_away_id_exports_the_same_person(warehouse, document: dict) -> None:
    old = access.export(warehouse, resolve(warehouse, "cus_ana_old"), identifier_type="phone", now=NOW)
    assert old == document


def test_records_of_a_table_without_a_staging_model_are_an_error(warehouse) -> None:
    from dataclasses import replace

    person = resolve(warehouse, "cus_ana")
    person = replace(person, records=(*person.records, ("pos", "receipts", "r1")))
    with pytest.raises(ValueError, match="records of pos/receipts have no staging model"):
        access.export(warehouse, person)


def test_the_export_is_audited_with_a_hashed_customer_id_and_counts_only(built: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "wh.duckdb"
    shutil.copy(built, copy)
    with DuckDBWarehouse(copy) as warehouse:
        document = access.export(warehouse, resolve(warehouse, ANA_EMAIL), identifier_type="email", now=NOW)
        event_id = access.record_export(warehouse, document, actor="cli:tester", now=NOW)
        events = audit.read(warehouse, action="privacy.access_export")
    (event,) = events.itertuples(index=False)
    assert event.event_id == event_id and event.actor == "cli:tester"
    assert (event.subject_type, event.subject_id) == ("customer", audit.hash_identifier("cus_ana"))
    detail = json.loads(event.detail)
    assert detail == {"identifier_type": "email", "sections": access.counts(document)}
    assert "ana" not in event.detail.lower() and "cus_" not in event.detail
