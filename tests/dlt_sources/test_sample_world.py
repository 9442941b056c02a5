"""The sample-world generator against its contract (docs/sample-world.md).

The checks re-read every generated file and compare it with the ground truth, so they also work
as a validator for a large world: `python -m pytest tests/dlt_sources/test_sample_world.py`
checks small worlds; `check_world(path)` can be called on any world.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from pathlib import Path
from random import Random
from typing import Any

import phonenumbers
import pytest
import yaml

from dlt_sources.sample_world import BAD_KINDS, generate_world
from dlt_sources.sample_world.generator import uuid4

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_REGIONS = {"US": ("1", "1", (10,)), "CA": ("1", "1", (10,)), "GB": ("44", "0", (9, 10))}
SEGMENT_KEYS = {"messageId", "type", "anonymousId", "userId", "timestamp", "originalTimestamp", "sentAt",
                "receivedAt", "context"}
TRACK_EVENTS = {"Product Viewed", "Product Added", "Checkout Started", "Order Completed"}


# --- identifier checks mirroring the staging macros (transform/macros/identifiers.sql) ---------


def normalize_email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip(" ").lower()  # SQL trim() removes spaces only
    return value if EMAIL.match(value) else None


def normalize_phone(value: str | None, country: str | None = None) -> str | None:
    if value is None or re.search(r"[A-Za-z]", value):
        return None
    digits = re.sub(r"[^0-9]", "", value)
    stripped = value.strip(" ")
    if stripped.startswith("+") or stripped.startswith("00"):
        intl = digits[2:] if stripped.startswith("00") else digits
        for code, lengths in (("1", (10,)), ("44", (9, 10))):
            if intl.startswith(code):
                return "+" + intl if len(intl) - len(code) in lengths else None
        return "+" + intl if 8 <= len(intl) <= 15 else None
    code, trunk, lengths = PHONE_REGIONS[country or "US"]
    if len(digits) in lengths and not digits.startswith(trunk):
        return f"+{code}{digits}"
    if digits.startswith(trunk) and len(digits) - len(trunk) in lengths:
        return f"+{code}{digits[len(trunk):]}"
    return None


def is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


# --- reading a world -------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def batch_files(world: Path, folder: str, stem: str) -> list[Path]:
    return sorted((world / "landing" / folder).glob(f"{stem}-*.jsonl"))


def pos_rows(world: Path, table: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(world / "systems" / "pos.sqlite")
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute(f"SELECT * FROM {table}")]  # noqa: S608 - fixed table names
    finally:
        db.close()


def bad_rows(world: Path) -> dict[str, dict[str, dict[str, str]]]:
    """source/table -> record_key -> bad_rows.csv row."""
    out: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for row in read_csv(world / "ground_truth" / "bad_rows.csv"):
        table = f"{row['source']}/{row['table']}"
        assert row["record_key"] not in out[table], f"{table} {row['record_key']} listed twice"
        out[table][row["record_key"]] = row
    return out


def shared_devices(world: Path) -> dict[str, dict[str, Any]]:
    """anonymous_id -> {"device_id": ..., "person_ids": [...]} from shared_devices.csv."""
    out: dict[str, dict[str, Any]] = {}
    for row in read_csv(world / "ground_truth" / "shared_devices.csv"):
        assert row["anonymous_id"] not in out, f"shared device {row['anonymous_id']} listed twice"
        out[row["anonymous_id"]] = {"device_id": row["device_id"], "person_ids": row["person_ids"].split("|")}
    return out


def periods(world: Path) -> list[str]:
    summary = json.loads((world / "ground_truth" / "summary.json").read_text())
    return [*summary["batch_starts"], summary["end"]]


def period_of(bounds: list[str], iso: str) -> int:
    """Index of the period holding `iso` (ISO strings in UTC compare as text after normalizing)."""
    value = iso.replace(" ", "T")[:19]
    for k in range(len(bounds) - 1):
        if bounds[k][:19] <= value < bounds[k + 1][:19]:
            return k
    raise AssertionError(f"{iso} is outside the world's window {bounds[0]}..{bounds[-1]}")


# --- the checks (usable on any generated world) ----------------------------------------------


def check_summary_counts(world: Path) -> None:
    summary = json.loads((world / "ground_truth" / "summary.json").read_text())
    batches = summary["batches"]
    rows, per_batch = summary["rows"], summary["rows_per_batch"]
    for folder, stem, table in (("events", "events", "events/events"), ("email", "email-events", "email/email_events"),
                                ("support", "tickets", "support/tickets")):
        files = batch_files(world, folder, stem)
        assert [f.name for f in files] == [f"{stem}-{k + 1:04d}.jsonl" for k in range(batches)]
        counts = [sum(1 for _ in open(f, encoding="utf-8")) for f in files]
        assert counts == per_batch[table], table
        assert sum(counts) == rows[table], table
    events = [e for f in batch_files(world, "events", "events") for e in read_jsonl(f)]
    assert len({e["messageId"] for e in events}) == summary["records"]["events/events"]
    tickets = [t for f in batch_files(world, "support", "tickets") for t in read_jsonl(f)]
    assert len({t["id"] for t in tickets}) == summary["records"]["support/tickets"]
    for name in ("contacts", "companies", "deals", "owners", "deal_contacts"):
        assert len(read_jsonl(world / "systems" / "crm_seed" / f"{name}.jsonl")) == rows[f"crm/{name}"]
        assert sum(per_batch[f"crm/{name}"]) == rows[f"crm/{name}"]
    for table in ("stores", "customers", "orders", "order_lines"):
        assert len(pos_rows(world, table)) == rows[f"commerce/{table}"]
    assert len(read_csv(world / "landing" / "lists" / "event_attendees.csv")) == rows["lists/event_attendees"]
    assert len(read_csv(world / "ground_truth" / "people.csv")) == summary["people"]
    assert len(shared_devices(world)) == summary["shared_devices"]
    counted: Counter[tuple[str, str]] = Counter()
    for row in read_csv(world / "ground_truth" / "bad_rows.csv"):
        counted[(f"{row['source']}/{row['table']}", row["kind"])] += 1
    for table, kinds in BAD_KINDS.items():
        assert set(summary["bad_rows"][table]) == set(kinds)
        for kind in kinds:
            assert summary["bad_rows"][table][kind] == counted[(table, kind)], (table, kind)
    assert sum(counted.values()) == summary["bad_rows_total"]


def check_bad_rows_match_files(world: Path) -> None:
    """Every record's defects, found by re-parsing the files, are exactly what bad_rows.csv says."""
    planted = bad_rows(world)
    people = {p["person_id"]: p for p in read_csv(world / "ground_truth" / "people.csv")}
    found: dict[str, dict[str, tuple[str, str, str]]] = defaultdict(dict)  # table -> key -> (kind, field, value)

    def defect(table: str, key: str, kind: str, field: str, value: Any) -> None:
        assert key not in found[table] or found[table][key] == (kind, field, str(value)), \
            f"{table} {key} has two defects: {found[table][key]} and {kind}"
        found[table][key] = (kind, field, "" if value is None else str(value))

    bounds = periods(world)
    # events
    for path in batch_files(world, "events", "events"):
        for e in read_jsonl(path):
            key = e["messageId"]
            assert not e["receivedAt"].startswith("2099")
            period_of(bounds, e["receivedAt"])
            if e["type"] == "identify":
                if normalize_email(e["traits"]["email"]) is None:
                    defect("events/events", key, "malformed_email", "traits.email", e["traits"]["email"])
                if "phone" in e["traits"]:
                    assert normalize_phone(e["traits"]["phone"]) is not None
            if e["userId"] is None and e["anonymousId"] is None:
                defect("events/events", key, "missing_id", "userId|anonymousId", "")
            if e["timestamp"].startswith("2099"):
                defect("events/events", key, "future_timestamp", "timestamp", e["timestamp"])
            else:
                period_of(bounds, e["timestamp"])
            revenue = e.get("properties", {}).get("revenue")
            if isinstance(revenue, str):
                defect("events/events", key, "wrong_type", "properties.revenue", revenue)
            elif revenue is not None and revenue < 0:
                defect("events/events", key, "negative_amount", "properties.revenue", revenue)
    # CRM contacts
    for c in read_jsonl(world / "systems" / "crm_seed" / "contacts.jsonl"):
        props = c["properties"]
        assert not c["updatedAt"].startswith("2099") and props["lastmodifieddate"] == c["updatedAt"]
        if normalize_email(props["email"]) is None:
            defect("crm/contacts", c["id"], "malformed_email", "email", props["email"])
        if props["phone"] is not None and normalize_phone(props["phone"], props["country"]) is None:
            defect("crm/contacts", c["id"], "malformed_phone", "phone", props["phone"])
    # commerce
    for o in pos_rows(world, "orders"):
        period_of(bounds, o["updated_at"])
        if o["total_amount"] < 0:
            defect("commerce/orders", o["order_id"], "negative_amount", "total_amount", f"{o['total_amount']:.2f}")
        if o["ordered_at"].startswith("2099"):
            defect("commerce/orders", o["order_id"], "future_timestamp", "ordered_at", o["ordered_at"])
        if o["email"] is not None and normalize_email(o["email"]) is None:
            defect("commerce/orders", o["order_id"], "malformed_email", "email", o["email"])
        assert o["subtotal_amount"] >= 0 and o["tax_amount"] >= 0
    for line in pos_rows(world, "order_lines"):
        period_of(bounds, line["updated_at"])
        if line["quantity"] < 0:
            defect("commerce/order_lines", line["line_id"], "negative_amount", "quantity", line["quantity"])
        assert line["unit_price"] > 0 and line["line_amount"] > 0
    for customer in pos_rows(world, "customers"):
        period_of(bounds, customer["updated_at"])
        assert customer["email"] is None or normalize_email(customer["email"]) is not None
        if customer["phone"] is not None:
            assert normalize_phone(customer["phone"], customer["country"]) is not None
    # email platform
    for path in batch_files(world, "email", "email-events"):
        for e in read_jsonl(path):
            if e["email"] is None and e["subscriber_id"] is None:
                defect("email/email_events", e["event_id"], "missing_id", "email|subscriber_id", "")
            else:
                assert normalize_email(e["email"]) is not None and e["subscriber_id"]
            if e["occurred_at"].startswith("2099"):
                defect("email/email_events", e["event_id"], "future_timestamp", "occurred_at", e["occurred_at"])
    # support
    for path in batch_files(world, "support", "tickets"):
        for t in read_jsonl(path):
            key = str(t["id"])
            assert not t["updated_at"].startswith("2099")
            if normalize_email(t["requester"]["email"]) is None:
                defect("support/tickets", key, "malformed_email", "requester.email", t["requester"]["email"])
            if t["created_at"].startswith("2099"):
                defect("support/tickets", key, "future_timestamp", "created_at", t["created_at"])
            if t["requester"]["phone"] is not None:
                assert normalize_phone(t["requester"]["phone"]) is not None
    # customer list
    for row in read_csv(world / "landing" / "lists" / "event_attendees.csv"):
        key, email, mobile, dob = row["Attendee ID"], row["Email Address"], row["Mobile"], row["Date of Birth"]
        if not email and not mobile:
            defect("lists/event_attendees", key, "missing_id", "Email Address|Mobile", "")
        if email and normalize_email(email) is None:
            defect("lists/event_attendees", key, "malformed_email", "Email Address", email)
        if mobile and normalize_phone(mobile, row["Country"]) is None:
            defect("lists/event_attendees", key, "malformed_phone", "Mobile", mobile)
        if dob and not is_date(dob):
            defect("lists/event_attendees", key, "wrong_type", "Date of Birth", dob)
    assert set(found) <= set(BAD_KINDS)
    for table in BAD_KINDS:
        expected = {key: (row["kind"], row["field"], row["value"]) for key, row in planted.get(table, {}).items()}
        assert found.get(table, {}) == expected, table
    assert people  # the ground truth is there


def check_clean_identifiers_are_the_persons(world: Path) -> None:
    """Rows that are not bad carry the person's own identifiers (only as the documented mess)."""
    people = {p["person_id"]: p for p in read_csv(world / "ground_truth" / "people.csv")}
    by_user = {p["user_id"]: p for p in people.values() if p["user_id"]}
    by_anon: dict[str, set[str]] = defaultdict(set)  # a shared device belongs to two people
    for p in people.values():
        for a in p["anonymous_ids"].split("|"):
            if a:
                by_anon[a].add(p["person_id"])
    shared = shared_devices(world)
    assert {a: sorted(ids) for a, ids in by_anon.items() if len(ids) > 1} == {
        a: row["person_ids"] for a, row in shared.items()}
    assert all(row["person_ids"] == sorted(row["person_ids"]) and len(row["person_ids"]) == 2
               for row in shared.values())
    records = {(r["source"], r["table"], r["record_key"]): r["person_id"]
               for r in read_csv(world / "ground_truth" / "records.csv")}
    planted = bad_rows(world)
    for person in people.values():
        assert EMAIL.match(person["email"]) and person["email"] == person["email"].lower()
        number = phonenumbers.parse(person["phone_e164"])
        assert phonenumbers.is_valid_number(number), person["phone_e164"]
        assert phonenumbers.region_code_for_number(number) == person["country"], person
        assert is_date(person["date_of_birth"])
    for path in batch_files(world, "events", "events"):
        for e in read_jsonl(path):
            person = people[records[("events", "events", e["messageId"])]]
            if e["anonymousId"] is not None:
                assert person["person_id"] in by_anon[e["anonymousId"]]
            if e["userId"] is not None:
                assert by_user[e["userId"]] is person
            if e["type"] == "identify" and e["messageId"] not in planted["events/events"]:
                assert e["userId"] == person["user_id"]
                assert normalize_email(e["traits"]["email"]) == person["email"]
    for c in read_jsonl(world / "systems" / "crm_seed" / "contacts.jsonl"):
        person = people[records[("crm", "contacts", c["id"])]]
        props = c["properties"]
        if c["id"] not in planted["crm/contacts"] and props["phone"] is not None:
            assert normalize_phone(props["phone"], props["country"]) == person["phone_e164"]
            if props["phone"].startswith("0"):
                assert props["country"] == "GB"
        assert props["country"] == person["country"] and props["zip"] == person["postcode"]
    for row in read_csv(world / "landing" / "lists" / "event_attendees.csv"):
        person = people[records[("lists", "event_attendees", row["Attendee ID"])]]
        assert re.fullmatch(r"EB-\d{6,}", row["Attendee ID"])
        assert row["Marketing Opt-In"] in ("yes", "no")
        if row["Attendee ID"] not in planted["lists/event_attendees"]:
            assert row["Email Address"] == "" or normalize_email(row["Email Address"]) == person["email"]
            assert row["Mobile"] == "" or normalize_phone(row["Mobile"], row["Country"]) == person["phone_e164"]
            assert row["Date of Birth"] in ("", person["date_of_birth"])
    for customer in pos_rows(world, "customers"):
        person = people[records[("commerce", "customers", customer["loyalty_id"])]]
        assert person["loyalty_id"] == customer["loyalty_id"]
    for order in pos_rows(world, "orders"):
        person_id = records[("commerce", "orders", order["order_id"])]
        identifiers = [order[k] for k in ("loyalty_id", "email", "first_name", "last_name", "postcode")]
        if not person_id:
            assert order["channel"] == "pos" and not any(identifiers)
            continue
        person = people[person_id]
        assert any(identifiers)
        if order["loyalty_id"]:
            assert order["loyalty_id"] == person["loyalty_id"]
        if order["postcode"]:
            assert (order["first_name"], order["last_name"], order["postcode"]) == (
                person["first_name"], person["last_name"], person["postcode"])
        if order["channel"] == "web":
            assert order["store_id"] is None and order["email"]
        else:
            assert order["store_id"] and order["email"] is None


def check_web_orders_in_pos(world: Path) -> None:
    orders = {o["order_id"]: o for o in pos_rows(world, "orders")}
    lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in pos_rows(world, "order_lines"):
        lines[line["order_id"]].append(line)
    planted = bad_rows(world)["events/events"]
    web_ids = set()
    for path in batch_files(world, "events", "events"):
        for e in read_jsonl(path):
            if e.get("event") != "Order Completed":
                continue
            props = e["properties"]
            assert props["order_id"] in orders, f"web order {props['order_id']} is not in pos.sqlite"
            order = orders[props["order_id"]]
            web_ids.add(props["order_id"])
            assert re.fullmatch(r"W\d{7}", props["order_id"])
            assert order["channel"] == "web" and order["currency"] == props["currency"]
            if e["messageId"] not in planted:
                assert props["revenue"] == pytest.approx(order["subtotal_amount"])
            assert sorted((p["sku"], p["quantity"], p["price"]) for p in props["products"]) == sorted(
                (line["sku"], abs(line["quantity"]), line["unit_price"]) for line in lines[props["order_id"]])
    assert web_ids == {o for o, row in orders.items() if row["channel"] == "web"}
    assert all(re.fullmatch(r"S\d{7}", o) for o, row in orders.items() if row["channel"] == "pos")
    assert set(lines) <= set(orders)


def check_records_cover_every_record(world: Path) -> None:
    records: dict[str, list[str]] = defaultdict(list)
    people = {p["person_id"] for p in read_csv(world / "ground_truth" / "people.csv")}
    for row in read_csv(world / "ground_truth" / "records.csv"):
        records[f"{row['source']}/{row['table']}"].append(row["record_key"])
        assert row["person_id"] in people or (row["person_id"] == "" and row["source"] == "commerce")
    for table, keys in records.items():
        assert len(keys) == len(set(keys)), f"{table}: a record is listed twice"
    expected = {
        "events/events": {e["messageId"] for f in batch_files(world, "events", "events") for e in read_jsonl(f)},
        "crm/contacts": {c["id"] for c in read_jsonl(world / "systems" / "crm_seed" / "contacts.jsonl")},
        "commerce/customers": {r["loyalty_id"] for r in pos_rows(world, "customers")},
        "commerce/orders": {r["order_id"] for r in pos_rows(world, "orders")},
        "commerce/order_lines": {r["line_id"] for r in pos_rows(world, "order_lines")},
        "email/email_events": {e["event_id"] for f in batch_files(world, "email", "email-events") for e in read_jsonl(f)},
        "support/tickets": {str(t["id"]) for f in batch_files(world, "support", "tickets") for t in read_jsonl(f)},
        "lists/event_attendees": {r["Attendee ID"] for r in read_csv(world / "landing" / "lists" / "event_attendees.csv")},
    }
    assert set(records) == {table for table, keys in expected.items() if keys}
    for table, keys in expected.items():
        assert set(records.get(table, ())) == keys, table


def check_batches(world: Path) -> None:
    bounds = periods(world)
    first_seen: dict[str, tuple[int, str]] = {}
    late = duplicates = 0
    for k, path in enumerate(batch_files(world, "events", "events")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                e = json.loads(line)
                assert period_of(bounds, e["receivedAt"]) == k or e["messageId"] in first_seen
                if e["messageId"] in first_seen:
                    earlier, earlier_line = first_seen[e["messageId"]]
                    assert earlier < k and earlier_line == line, "a re-delivery is an exact copy in a later batch"
                    duplicates += 1
                    continue
                first_seen[e["messageId"]] = (k, line)
                if not e["timestamp"].startswith("2099") and period_of(bounds, e["timestamp"]) < k:
                    late += 1
    if len(bounds) > 2 and len(first_seen) >= 1000:
        assert duplicates > 0 and late > 0
        assert 0.004 < duplicates / len(first_seen) < 0.02
        assert 0.008 < late / len(first_seen) < 0.04
    for k, path in enumerate(batch_files(world, "email", "email-events")):
        for e in read_jsonl(path):
            if not e["occurred_at"].startswith("2099"):
                assert period_of(bounds, e["occurred_at"]) == k
    snapshots: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for k, path in enumerate(batch_files(world, "support", "tickets")):
        for t in read_jsonl(path):
            assert period_of(bounds, t["updated_at"]) == k
            snapshots[t["id"]].append((k, t["updated_at"], t["status"]))
    for history in snapshots.values():
        assert len({k for k, _, _ in history}) == len(history), "one snapshot per ticket and batch"
        assert [u for _, u, _ in history] == sorted(u for _, u, _ in history)
    if len(bounds) > 2 and len(snapshots) >= 20:
        assert any(len(h) > 1 and h[0][2] != h[-1][2] for h in snapshots.values())
    for name in ("contacts", "companies", "deals"):
        for c in read_jsonl(world / "systems" / "crm_seed" / f"{name}.jsonl"):
            period_of(bounds, c["updatedAt"])
            assert c["createdAt"] <= c["updatedAt"]


def check_world(world: Path) -> None:
    check_summary_counts(world)
    check_bad_rows_match_files(world)
    check_clean_identifiers_are_the_persons(world)
    check_web_orders_in_pos(world)
    check_records_cover_every_record(world)
    check_batches(world)


def file_bytes(world: Path) -> dict[str, bytes]:
    return {str(p.relative_to(world)): p.read_bytes() for p in sorted(world.rglob("*")) if p.is_file()}


# --- tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample_world")
    generate_world(path, people=300, seed=5)
    return path


def test_layout_and_summary(world: Path) -> None:
    expected = {
        "landing/lists/event_attendees.csv", "landing/lists/event_attendees.yaml",
        "systems/crm_seed/contacts.jsonl", "systems/crm_seed/companies.jsonl", "systems/pos.sqlite",
        "systems/crm_seed/deals.jsonl", "systems/crm_seed/deal_contacts.jsonl", "systems/crm_seed/owners.jsonl",
        "ground_truth/people.csv", "ground_truth/records.csv", "ground_truth/bad_rows.csv",
        "ground_truth/summary.json", "ground_truth/shared_devices.csv",
        *(f"landing/events/events-{k:04d}.jsonl" for k in range(1, 5)),
        *(f"landing/email/email-events-{k:04d}.jsonl" for k in range(1, 5)),
        *(f"landing/support/tickets-{k:04d}.jsonl" for k in range(1, 5)),
    }
    assert set(file_bytes(world)) == expected
    summary = json.loads((world / "ground_truth" / "summary.json").read_text())
    assert (summary["people"], summary["seed"], summary["batches"]) == (300, 5, 4)
    assert summary["end"] == "2026-11-01T00:00:00Z" and summary["start"] == "2025-11-01T00:00:00Z"
    check_summary_counts(world)


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    first = generate_world(tmp_path / "a", people=120, seed=3, batches=3)
    second = generate_world(tmp_path / "b", people=120, seed=3, batches=3)
    assert first == second
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")
    # a previous world is replaced by an identical one
    generate_world(tmp_path / "a", people=120, seed=3, batches=3)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b")


def test_different_seed_or_end_differs(tmp_path: Path) -> None:
    generate_world(tmp_path / "a", people=50, seed=1)
    generate_world(tmp_path / "b", people=50, seed=2)
    generate_world(tmp_path / "c", people=50, seed=1, end=datetime(2025, 6, 1, tzinfo=timezone.utc))
    a, b, c = (file_bytes(tmp_path / n) for n in "abc")
    for name in ("ground_truth/people.csv", "landing/events/events-0001.jsonl", "systems/crm_seed/contacts.jsonl"):
        assert a[name] != b[name]
    assert a["landing/events/events-0001.jsonl"] != c["landing/events/events-0001.jsonl"]
    assert b'"receivedAt":"2025-0' in c["landing/events/events-0004.jsonl"]


def test_every_bad_kind_is_planted_in_every_table(world: Path) -> None:
    summary = json.loads((world / "ground_truth" / "summary.json").read_text())
    for table, kinds in BAD_KINDS.items():
        for kind in kinds:
            assert summary["bad_rows"][table][kind] >= 1, (table, kind)
    events = summary["bad_rows"]["events/events"]
    assert sum(events.values()) / summary["records"]["events/events"] < 0.012


def test_bad_rows_are_exactly_the_defective_rows(world: Path) -> None:
    check_bad_rows_match_files(world)


def test_clean_rows_carry_the_persons_identifiers(world: Path) -> None:
    check_clean_identifiers_are_the_persons(world)


def test_every_web_order_is_in_the_pos_database(world: Path) -> None:
    check_web_orders_in_pos(world)
    schema = {row["name"]: row for row in pos_rows(world, "sqlite_master") if row["type"] == "table"}
    assert set(schema) == {"stores", "customers", "orders", "order_lines"}
    assert "updated_at DATETIME NOT NULL" in schema["orders"]["sql"]
    orders = pos_rows(world, "orders")
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", o["updated_at"]) for o in orders)
    assert {o["channel"] for o in orders} == {"web", "pos"}
    kinds = Counter(
        "loyalty" if o["loyalty_id"] else "name" if o["postcode"] else "none" for o in orders if o["channel"] == "pos")
    assert min(kinds.values()) > 0 and set(kinds) == {"loyalty", "name", "none"}


def test_records_cover_every_record_of_every_table(world: Path) -> None:
    check_records_cover_every_record(world)


def test_batches_duplicates_and_late_events(world: Path) -> None:
    check_batches(world)


def test_events_follow_the_segment_spec(world: Path) -> None:
    events = [e for f in batch_files(world, "events", "events") for e in read_jsonl(f)]
    per_visitor = len({e["messageId"] for e in events}) / sum(
        1 for p in read_csv(world / "ground_truth" / "people.csv") if p["anonymous_ids"])
    assert 9 <= per_visitor <= 16
    types = Counter(e["type"] for e in events)
    assert set(types) == {"page", "track", "identify", "screen"}
    for e in events:
        assert SEGMENT_KEYS <= set(e)
        assert "ip" in e["context"] and "library" in e["context"] and "userAgent" in e["context"]
        if e["type"] == "track":
            assert e["event"] in TRACK_EVENTS and isinstance(e["properties"], dict)
        elif e["type"] == "identify":
            assert e["userId"] or e["anonymousId"] is None
            assert {"email", "firstName", "lastName"} <= set(e["traits"])
        else:
            assert e["name"]
        if e["type"] == "page":
            assert set(e["context"]["page"]) >= {"url", "path", "referrer", "title"}
        if e["type"] == "screen":
            assert {"id", "type"} <= set(e["context"]["device"]) and "app" in e["context"]
        for key in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e[key])
    assert any("consent" in e["context"] for e in events)
    assert any(e["traits"]["email"] != e["traits"]["email"].strip(" ").lower() for e in events if e["type"] == "identify")
    # lines are not in time order
    first = read_jsonl(batch_files(world, "events", "events")[0])
    received = [e["receivedAt"] for e in first]
    assert received != sorted(received)


def test_crm_objects_are_hubspot_shaped(world: Path) -> None:
    contacts = read_jsonl(world / "systems" / "crm_seed" / "contacts.jsonl")
    companies = read_jsonl(world / "systems" / "crm_seed" / "companies.jsonl")
    company_ids = {c["id"] for c in companies}
    for obj in contacts + companies:
        assert set(obj) == {"id", "properties", "createdAt", "updatedAt", "archived"} and obj["archived"] is False
        assert all(v is None or isinstance(v, str) for v in obj["properties"].values())
        assert obj["properties"]["createdate"] == obj["createdAt"]
        assert obj["properties"]["lastmodifieddate"] == obj["updatedAt"]
        assert obj["properties"]["hs_object_id"] == obj["id"]
    for c in contacts:
        assert c["properties"]["associatedcompanyid"] in company_ids | {None}
        assert c["properties"]["hs_email_optout"] in ("true", "false")
    records = {r["record_key"]: r["person_id"] for r in read_csv(world / "ground_truth" / "records.csv")
               if r["table"] == "contacts"}
    per_person = Counter(records.values())
    assert 0 < sum(1 for n in per_person.values() if n == 2) < 0.1 * len(per_person)
    assert any(c["properties"]["phone"] is None for c in contacts)


def test_crm_owners_deals_and_their_contacts(world: Path) -> None:
    seed_dir = world / "systems" / "crm_seed"
    contacts = {c["id"]: c for c in read_jsonl(seed_dir / "contacts.jsonl")}
    owners = read_jsonl(seed_dir / "owners.jsonl")
    deals = read_jsonl(seed_dir / "deals.jsonl")
    links = read_jsonl(seed_dir / "deal_contacts.jsonl")
    summary = json.loads((world / "ground_truth" / "summary.json").read_text())
    # owners: the sales team the contacts are assigned to, shaped as GET /crm/v3/owners answers
    owner_ids = {o["id"] for o in owners}
    assert len(owner_ids) == len(owners) == summary["rows"]["crm/owners"] >= 2
    assert owner_ids >= {c["properties"]["hubspot_owner_id"] for c in contacts.values()} - {None}
    assert sum(c["properties"]["hubspot_owner_id"] is not None for c in contacts.values()) > 0.8 * len(contacts)
    assert len({o["email"] for o in owners}) == len({o["userId"] for o in owners}) == len(owners)
    for owner in owners:
        assert set(owner) == {"id", "email", "type", "firstName", "lastName", "userId", "userIdIncludingInactive",
                              "createdAt", "updatedAt", "archived"}
        assert owner["createdAt"] <= owner["updatedAt"] < summary["end"]
    # deals: HubSpot-shaped, in the default pipeline, owned by those owners, inside the world's window
    stages = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
              "contractsent", "closedwon", "closedlost")
    deal_ids = {d["id"] for d in deals}
    assert len(deal_ids) == len(deals) == summary["rows"]["crm/deals"]
    for deal in deals:
        props = deal["properties"]
        assert set(deal) == {"id", "properties", "createdAt", "updatedAt", "archived"} and deal["archived"] is False
        assert set(props) == {"dealname", "amount", "dealstage", "pipeline", "closedate", "hubspot_owner_id",
                              "createdate", "hs_lastmodifieddate", "hs_object_id"}
        assert all(v is None or isinstance(v, str) for v in props.values())
        assert props["createdate"] == deal["createdAt"] and props["hs_lastmodifieddate"] == deal["updatedAt"]
        assert props["hs_object_id"] == deal["id"] and props["pipeline"] == "default" and props["dealstage"] in stages
        assert props["hubspot_owner_id"] in owner_ids | {None}
        assert props["amount"] is None or float(props["amount"]) > 0
        assert summary["start"] <= deal["createdAt"] <= deal["updatedAt"] < summary["end"]
        if props["dealstage"] in ("closedwon", "closedlost"):
            assert deal["createdAt"] <= props["closedate"] < summary["end"]
    # associations: existing deals and contacts, once each; some contacts have several deals, most none
    pairs = [(link["dealId"], link["contactId"]) for link in links]
    assert len(set(pairs)) == len(pairs) == summary["rows"]["crm/deal_contacts"]
    assert {d for d, _ in pairs} <= deal_ids and {c for _, c in pairs} <= set(contacts)
    per_contact = Counter(c for _, c in pairs)
    assert 0.1 < len(per_contact) / len(contacts) < 0.6
    assert any(n >= 2 for n in per_contact.values())
    per_deal = Counter(d for d, _ in pairs)
    assert any(n == 2 for n in per_deal.values()) and len(per_deal) < len(deals)  # shared deals; deals without a contact
    # customers have won deals; subscribers none
    stage_of = {c_id: c["properties"]["lifecyclestage"] for c_id, c in contacts.items()}
    won = {d["id"] for d in deals if d["properties"]["dealstage"] == "closedwon"}
    assert any(stage_of[c] == "customer" for d, c in pairs if d in won)
    assert not any(stage_of[c] == "subscriber" for d, c in pairs if per_deal[d] == 1)


# Every file of `generate_world(people=150, seed=4, batches=2)` but the CRM's owners, deals and
# deal_contacts (and summary.json, which counts them), as generated before those were added.
WORLD_150_4_DIGEST = "72bf4ab8a4b8e613f577df40ad1edc3ee11215dc6eae74245e6a1d22b2eebb33"
ADDED_LATER = {"systems/crm_seed/deals.jsonl", "systems/crm_seed/deal_contacts.jsonl", "systems/crm_seed/owners.jsonl",
               "ground_truth/summary.json"}


def test_crm_deals_and_owners_do_not_move_other_output(tmp_path: Path) -> None:
    """Owners and deals come from rng phases of their own: every other file is what it was before them."""
    generate_world(tmp_path / "w", people=150, seed=4, batches=2)
    digest = hashlib.sha256()
    for name, content in file_bytes(tmp_path / "w").items():
        if name not in ADDED_LATER:
            digest.update(name.encode() + b"\0" + content)
    assert digest.hexdigest() == WORLD_150_4_DIGEST


def test_attendee_list_and_mapping(world: Path) -> None:
    from dlt_sources.lists.helpers import check_columns, member_rows, parse_mapping, read_csv_rows

    folder = world / "landing" / "lists"
    mapping = parse_mapping((folder / "event_attendees.yaml").read_text(), mapping_file="event_attendees.yaml",
                            data_file="event_attendees.csv")
    header, rows = read_csv_rows((folder / "event_attendees.csv").read_bytes(), data_file="event_attendees.csv")
    check_columns(mapping, header, data_file="event_attendees.csv", mapping_file="event_attendees.yaml")
    members = list(member_rows(mapping, rows, data_file="event_attendees.csv"))
    assert members and all(m["external_ids"][0]["system"] == "eventbrite" for m in members)
    assert yaml.safe_load((folder / "event_attendees.yaml").read_text())["key"] == "Attendee ID"


@pytest.fixture(scope="module")
def world_400(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample_world_400")
    generate_world(path, people=400, seed=3)
    return path


def test_shared_devices_are_planted_and_attributed_to_who_used_them(world_400: Path) -> None:
    world = world_400
    check_world(world)
    summary = json.loads((world / "ground_truth" / "summary.json").read_text())
    shared = shared_devices(world)
    people = {p["person_id"]: p for p in read_csv(world / "ground_truth" / "people.csv")}
    visitors = sum(1 for p in people.values() if p["anonymous_ids"])
    assert summary["shared_devices"] == len(shared) >= 2
    assert len(shared) == max(2, round(0.015 * visitors))
    for anonymous_id, row in shared.items():
        assert len(row["person_ids"]) == 2 and len(set(row["person_ids"])) == 2
        a, b = (people[pid] for pid in row["person_ids"])
        assert (a["city"], a["country"]) == (b["city"], b["country"])  # one household
        for pid in row["person_ids"]:
            assert anonymous_id in people[pid]["anonymous_ids"].split("|")
    records = {r["record_key"]: r["person_id"] for r in read_csv(world / "ground_truth" / "records.csv")
               if r["source"] == "events"}
    planted = bad_rows(world)["events/events"]
    producers: dict[str, set[str]] = defaultdict(set)
    user_ids: dict[str, set[str]] = defaultdict(set)
    for path in batch_files(world, "events", "events"):
        for e in read_jsonl(path):
            row = shared.get(e["anonymousId"])
            if row is None:
                continue
            person = people[records[e["messageId"]]]
            producers[e["anonymousId"]].add(person["person_id"])
            device = e["context"].get("device")
            if row["device_id"]:  # an app: every event on it carries the same device id
                assert device is not None and device["id"] == row["device_id"]
            else:
                assert device is None and "page" in e["context"]
            if e["userId"] is not None:  # identified events carry the producer's own identity
                assert e["userId"] == person["user_id"]
                user_ids[e["anonymousId"]].add(e["userId"])
            if e["type"] == "identify" and e["messageId"] not in planted:
                assert normalize_email(e["traits"]["email"]) == person["email"]
                traits = e["traits"]
                assert (traits["firstName"], traits["lastName"]) == (person["first_name"], person["last_name"])
    # both people have events on every shared device, and nobody else does
    assert {a: sorted(ids) for a, ids in producers.items()} == {a: row["person_ids"] for a, row in shared.items()}
    # with this seed one shared device carries both people's user ids (the hard case for identity resolution)
    assert any(len(ids) == 2 for ids in user_ids.values())
    # a device that is not shared has exactly one person
    owners = Counter(a for p in people.values() for a in p["anonymous_ids"].split("|") if a)
    assert {a for a, n in owners.items() if n > 1} == set(shared)


def test_shared_devices_regenerate_byte_identical(world_400: Path, tmp_path: Path) -> None:
    generate_world(tmp_path / "again", people=400, seed=3)
    assert file_bytes(tmp_path / "again") == file_bytes(world_400)


def test_uuid4_matches_the_standard_library() -> None:
    a, b = Random(1), Random(1)
    for _ in range(50):
        assert uuid4(a) == str(uuid.UUID(int=b.getrandbits(128), version=4))


def test_small_world_without_every_kind(tmp_path: Path) -> None:
    summary = generate_world(tmp_path / "w", people=12, seed=9, batches=1)
    assert summary["people"] == 12 and summary["batches"] == 1
    check_world(tmp_path / "w")


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="people"):
        generate_world(tmp_path / "x", people=0)
    with pytest.raises(ValueError, match="batches"):
        generate_world(tmp_path / "x", people=10, batches=0)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        generate_world(other, people=10)
    assert (other / "notes.txt").read_text() == "mine"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError):
        generate_world(afile, people=10)
