"""Tombstones at load time (dlt_sources/tombstones.py): hashes, the registry, normalization equal to
the staging macros, the extract filter on the sample world's sources, and landing-file scrubbing."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from dlt_sources.commerce import commerce_source
from dlt_sources.identifiers import normalize_email, normalize_phone
from dlt_sources.lists.helpers import member_rows, parse_mapping, read_csv_rows
from dlt_sources.pipelines import SOURCES
from dlt_sources.tombstones import (
    REGISTRY,
    DropCounter,
    TombstoneError,
    drop_tombstoned,
    identifier_hash,
    record_hash,
    record_identifiers,
    record_keys,
    scrub_landing_file,
    tombstoned_rows,
)
from orchestration.ingest import _definition_source
from orchestration.settings import DBT_PROJECT_DIR
from tests.dlt_sources.loading import query, run_source

# --- hashes, normalization, the registry ------------------------------------------------------


def test_hashes_are_sha256_of_the_identity_graphs_keys() -> None:
    assert identifier_hash("email", "ana@example.com") == hashlib.sha256(b"email:ana@example.com").hexdigest()
    assert record_hash("commerce", "orders", "W1") == hashlib.sha256(b"record:commerce/orders/W1").hexdigest()
    with pytest.raises(TombstoneError, match="a lower-case name like 'email', got 'E-Mail'"):
        identifier_hash("E-Mail", "ana@example.com")
    with pytest.raises(TombstoneError, match="an empty email"):
        identifier_hash("email", "")
    with pytest.raises(TombstoneError, match="no raw table webshop/orders"):
        record_hash("webshop", "orders", "W1")


# (value, country): numbers with and without country codes, trunk prefixes, 00 prefixes,
# regions without a plan, letters, lengths just off, blanks and odd spacing.
TRICKY_PHONES = [
    ("(415) 555-0134", None), ("415.555.0134", None), ("1-415-555-0134", None), ("+1 415 555 0134", None),
    ("001 415 555 0134", None), ("  +14155550134  ", None), ("4155550134", "US"), ("14155550134", "usa"),
    ("415555013", None), ("41555501345", None), ("+1415555013", None), ("+44 7700 900123", None),
    ("07700 900123", "GB"), ("07700 900123", "United Kingdom"), ("07700 900123", " uk "), ("7700900123", "GB"),
    ("07700 900123", None), ("0044 7700 900123", None), ("+44 20 7946 0958", None), ("020 7946 0958", "england"),
    ("+353 1 234 5678", None), ("01 234 5678", "IE"), ("+49 30 123456", None), ("030 123456", "DE"),
    ("030 12345678901", "DE"), ("+33 1 23 45 67 89", None), ("01 23 45 67 89", "France"), ("+61 2 9876 5432", None),
    ("02 9876 5432", "AU"), ("+34 912 345 678", None), ("912 345 678", "ES"), ("912 345 678", "Spain"),
    ("+7 495 123 4567", None), ("+1234567", None), ("+123456789012345", None), ("+1234567890123456", None),
    ("555-CALL-NOW", None), ("ext 12", None), ("", None), ("   ", None), ("+", None), ("00", None),
    ("(604) 555-0199", "Canada"), ("604 555 0199", "CA"), ("+1 (604) 555-0199 x", None), ("4155550134", "xx"),
]
TRICKY_EMAILS = ["  Ana@Example.COM ", "ana@example", "a b@example.com", "ana@@example.com", "ANA@EXAMPLE.CO.UK",
                 "", " ", "ana@example.com\t", "@example.com", "ana@.com", "ana@example.c"]

DBT_PROJECT = """\
name: opencdp
version: "0.1.0"
config-version: 2
profile: opencdp
macro-paths: ["{macros}"]
vars:
  default_phone_region: "US"
"""


def _sql_text(value: str | None) -> str:
    return "null" if value is None else "'" + value.replace("'", "''") + "'"


def test_python_normalizers_agree_with_the_staging_macros(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The macros of transform/macros/identifiers.sql compiled by dbt (a throw-away project reading
    the real macro folder) and run on DuckDB give what dlt_sources.identifiers gives."""
    import duckdb
    from dbt.cli.main import dbtRunner

    project = tmp_path / "project"
    project.mkdir()
    (project / "dbt_project.yml").write_text(DBT_PROJECT.format(macros=(DBT_PROJECT_DIR / "macros").resolve()))
    warehouse = tmp_path / "normalize.duckdb"
    monkeypatch.setenv("CDP_TARGET", "duckdb")
    monkeypatch.setenv("CDP_WAREHOUSE_PATH", str(warehouse))
    rows = [(p, c, None) for p, c in TRICKY_PHONES] + [(None, None, e) for e in TRICKY_EMAILS]
    values = ", ".join(f"({i}, {_sql_text(p)}, {_sql_text(c)}, {_sql_text(e)})" for i, (p, c, e) in enumerate(rows))
    sql = (
        "select n, {{ normalize_phone('p', 'c') }} as phone, {{ normalize_email('e') }} as email"
        f" from (values {values}) as t(n, p, c, e) order by n"
    )
    result = dbtRunner().invoke([
        "--quiet", "compile", "--inline", sql, "--project-dir", str(project), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
    ])
    assert result.success, result.exception
    compiled = result.result.results[0].node.compiled_code
    with duckdb.connect(str(warehouse)) as con:
        from_sql = con.execute(compiled).fetchall()
    from_python = [
        (n, normalize_phone(p, c, default_region="US") if p is not None else None, normalize_email(e))
        for n, (p, c, e) in enumerate(rows)
    ]
    assert from_python == from_sql
    # and the cases are not all alike: valid numbers of several plans, and refusals
    assert {"+14155550134", "+447700900123", "+35312345678", "+4930123456", "+33123456789", "+61298765432",
            "+34912345678"} <= {phone for _, phone, _ in from_sql}
    assert sum(phone is None for _, phone, _ in from_sql[: len(TRICKY_PHONES)]) >= 12


def test_the_default_region_reads_numbers_without_a_country() -> None:
    assert normalize_phone("07700 900123", default_region="GB") == "+447700900123"
    assert normalize_phone("07700 900123", "US", default_region="GB") is None  # the record's country wins
    assert normalize_phone("(415) 555-0134", default_region="fr") is None  # 10 digits: no French number


def test_people_resolves_requests_with_the_same_normalization() -> None:
    from activations.governance.people import IdentifierError, normalize

    assert normalize("phone", "(415) 555-0134") == normalize_phone("(415) 555-0134") == "+14155550134"
    assert normalize("phone", "+34 912 345 678") == "+34912345678"
    assert normalize("email", "  Ana@Example.COM ") == "ana@example.com"
    with pytest.raises(IdentifierError, match="not a possible phone number"):
        normalize("phone", "415555013")
    with pytest.raises(IdentifierError, match="not an email address"):
        normalize("email", "ana@example")


def test_record_identifiers_follow_each_staging_model() -> None:
    event = {"messageId": "m1", "anonymousId": " a-1 ", "userId": "",
             "traits": {"email": " Ana@X.com", "phone": "415 555 0134"}, "context": {"device": {"id": "DEV-1"}},
             "properties": {"products": [{"sku": "s"}]}}
    assert record_identifiers("events", "events", event) == {
        ("anonymous_id", "a-1"), ("email", "ana@x.com"), ("phone", "+14155550134"), ("device_id", "dev-1")}
    assert record_identifiers("events", "events", event, default_region="FR") == {
        ("anonymous_id", "a-1"), ("email", "ana@x.com"), ("device_id", "dev-1")}
    # the same record as dlt names its columns
    flat = {"message_id": "m1", "anonymous_id": "a-1", "traits__email": "ana@x.com", "context__device__id": "dev-1"}
    assert record_identifiers("events", "events", flat) == {
        ("anonymous_id", "a-1"), ("email", "ana@x.com"), ("device_id", "dev-1")}
    assert record_keys("events", "events", event) == {("events", "events", "m1")}
    contact = {"id": "101", "properties": {"email": "B@Y.org", "phone": "07700 900123", "country": "United Kingdom"}}
    assert record_identifiers("crm", "contacts", contact) == {
        ("crm_contact_id", "101"), ("email", "b@y.org"), ("phone", "+447700900123")}
    member = {"member_key": "fair:EB-1", "email": "c@z.net", "phone": "0412 345 678", "country": "Australia",
              "external_ids": [{"system": "Eventbrite", "external_id": " EB-1 "}]}
    assert record_identifiers("lists", "list_members", member) == {
        ("email", "c@z.net"), ("phone", "+61412345678"), ("external_id", "eventbrite:EB-1")}
    ticket = {"id": 10001, "requester": {"email": "D@W.com", "phone": None}, "tags": ["a"]}
    assert record_identifiers("support", "tickets", ticket) == {("email", "d@w.com")}
    assert record_keys("support", "tickets", ticket) == {("support", "tickets", "10001")}
    assert record_identifiers("email", "email_events", {"email": "nope", "subscriber_id": " sub_1 "}) == {
        ("email_subscriber_id", "sub_1")}
    assert record_keys("commerce", "order_lines", {"line_id": "W1-1", "order_id": "W1"}) == {
        ("commerce", "orders", "W1")}
    assert record_keys("crm", "deal_contacts", {"id": "9:101", "deal_id": "9", "contact_id": "101"}) == {
        ("crm", "contacts", "101")}


def test_every_resource_of_every_source_is_in_the_registry_and_an_unknown_one_is_refused() -> None:
    for spec in SOURCES.values():
        source = _definition_source(spec)
        drop_tombstoned(source, set(), DropCounter())  # raises for a resource the registry lacks
        assert {(spec.name, r.table_name) for r in source.resources.values()} <= set(REGISTRY)
    assert {name for name, table in REGISTRY.items() if not table.personal} == {
        ("crm", "companies"), ("crm", "deals"), ("crm", "owners"), ("commerce", "stores")}
    import dlt

    @dlt.source(name="events")
    def extra() -> Any:
        yield dlt.resource([{"a": 1}], name="pageviews")

    with pytest.raises(TombstoneError, match="no tombstone registry entry for events/pageviews"):
        drop_tombstoned(extra(), set(), DropCounter())
    with pytest.raises(TombstoneError, match="not SHA-256"):
        drop_tombstoned(_definition_source(SOURCES["events"]), {"email:ana@example.com"}, DropCounter())


def test_arrow_tables_and_pandas_frames_are_filtered_by_value_and_country() -> None:
    spec = REGISTRY[("commerce", "customers")]
    table = pa.table({
        "loyalty_id": ["L1", "L2", "L3", "L4", None],
        "email": ["x@a.com", "ANA@EXAMPLE.COM ", None, "y@a.com", "z@a.com"],
        "phone": ["07700 900123", None, "07700 900123", "07700 900123", None],
        "country": ["GB", None, "US", None, None],
    })
    hashes = frozenset({identifier_hash("email", "ana@example.com"), identifier_hash("phone", "+447700900123")})
    drop = tombstoned_rows(spec, table, hashes)
    assert drop.to_pylist() == [True, True, False, False, False]  # L3 is a US number, L4 read in the default US
    assert tombstoned_rows(spec, table, hashes, default_region="GB").to_pylist() == [True, True, False, True, False]
    orders = REGISTRY[("commerce", "order_lines")]
    lines = pa.table({"line_id": [1, 2, 3], "order_id": [7, 8, 7]})
    assert tombstoned_rows(orders, lines, frozenset({record_hash("commerce", "orders", "7")})).to_pylist() == [
        True, False, True]
    from dlt_sources.tombstones import TombstoneFilter

    counter = DropCounter()
    step = TombstoneFilter(spec, hashes, counter, "US")
    assert step(table).num_rows == 3
    kept = step(table.to_pandas())
    assert len(kept) == 3 and list(kept["loyalty_id"])[:2] == ["L3", "L4"]
    assert counter.of("commerce", "customers") == 4
    assert counter.dropped_records == {record_hash("commerce", "customers", key) for key in ("L1", "L2")}


# --- the sample world's sources with a tombstoned person --------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def chosen_person(world: Path) -> tuple[dict[str, str], dict[tuple[str, str], set[str]]]:
    """A person with records in every source read here, who shares no device or anonymous id."""
    truth = world / "ground_truth"
    shared = {p for row in read_csv(truth / "shared_devices.csv") for p in row["person_ids"].split("|")}
    records: dict[str, dict[tuple[str, str], set[str]]] = {}
    for row in read_csv(truth / "records.csv"):
        records.setdefault(row["person_id"], {}).setdefault((row["source"], row["table"]), set()).add(row["record_key"])
    wanted = {("events", "events"), ("email", "email_events"), ("support", "tickets"), ("commerce", "orders"),
              ("commerce", "customers"), ("lists", "event_attendees")}
    for person in read_csv(truth / "people.csv"):
        mine = records.get(person["person_id"], {})
        if person["person_id"] not in shared and wanted <= set(mine) and person["anonymous_ids"]:
            return person, mine
    pytest.fail("the small world has nobody with records in every source")


def person_hashes(person: dict[str, str], orders: set[str]) -> set[str]:
    hashes = {identifier_hash("email", person["email"]), identifier_hash("phone", person["phone_e164"]),
              identifier_hash("loyalty_id", person["loyalty_id"])}
    if person["user_id"]:
        hashes.add(identifier_hash("user_id", person["user_id"]))
    hashes |= {identifier_hash("anonymous_id", a) for a in person["anonymous_ids"].split("|")}
    # one order by its record key too: its lines must go with it
    hashes |= {record_hash("commerce", "orders", key) for key in sorted(orders)[:1]}
    return hashes


def jsonl_records(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.open("rb"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


@pytest.fixture(scope="module")
def tombstoned_load(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("tombstoned_load")
    person, mine = chosen_person(small_world)
    hashes = person_hashes(person, mine[("commerce", "orders")])
    counter = DropCounter()
    loaded = {}
    for name in ("events", "email", "support", "lists"):
        source = SOURCES[name].factory(bucket_url=str(small_world / "landing" / name))
        loaded |= run_source(name, drop_tombstoned(source, hashes, counter), work)
    pos = f"sqlite:///{small_world / 'systems' / 'pos.sqlite'}"
    loaded |= run_source("commerce", drop_tombstoned(commerce_source(credentials=pos), hashes, counter), work)
    return {"work": work, "person": person, "mine": mine, "counter": counter, "loaded": loaded}


LANDING_KEYS = {("events", "events"): "messageId", ("email", "email_events"): "event_id",
                ("support", "tickets"): "id"}


def test_a_load_drops_the_tombstoned_persons_records_and_keeps_everyone_elses(
    small_world: Path, tombstoned_load: dict[str, Any]
) -> None:
    work, person, mine, counter = (tombstoned_load[k] for k in ("work", "person", "mine", "counter"))
    loaded = tombstoned_load["loaded"]
    landing = small_world / "landing"
    raw_keys = {("events", "events"): "message_id", ("email", "email_events"): "event_id",
                ("support", "tickets"): "id"}
    for (source, table), field in LANDING_KEYS.items():
        records = list(jsonl_records(landing / source))
        # every line is either loaded or counted as dropped
        assert loaded[table] + counter.of(source, table) == len(records), (source, table)
        kept = {str(row[0]) for row in query(work, f"select {raw_keys[source, table]} from raw_{source}.{table}")}
        dropped = {str(record[field]) for record in records} - kept
        assert dropped and dropped <= mine[(source, table)], f"{source}/{table}: someone else's record was dropped"
    # what carries the tombstoned values is gone, anonymous-only events included
    anonymous = set(person["anonymous_ids"].split("|"))
    anonymous_only = [r for r in jsonl_records(landing / "events") if r.get("anonymousId") in anonymous
                      and not r.get("userId") and not (r.get("traits") or {}).get("email")]
    assert anonymous_only, "the person has no anonymous-only events to test with"
    in_list = ", ".join(f"'{a}'" for a in anonymous)
    assert query(work, f"select count(*) from raw_events.events where anonymous_id in ({in_list})") == [(0,)]
    email = person["email"]
    for table, column in (("raw_email.email_events", "email"), ("raw_support.tickets", "requester__email"),
                          ("raw_lists.list_members", "email"), ("raw_commerce.orders", "email"),
                          ("raw_commerce.customers", "email")):
        assert query(work, f"select count(*) from {table} where lower(trim({column})) = '{email}'") == [(0,)], table
    # the list member, the customer and the orders of the loyalty id, and the orders' lines
    attendees = {f"event_attendees:{key}" for key in mine[("lists", "event_attendees")]}
    kept_members = {row[0] for row in query(work, "select member_key from raw_lists.list_members")}
    assert not attendees & kept_members and loaded["list_members"] == 20 - len(attendees)
    loyalty = person["loyalty_id"]
    assert query(work, f"select count(*) from raw_commerce.customers where loyalty_id = '{loyalty}'") == [(0,)]
    assert query(work, f"select count(*) from raw_commerce.orders where loyalty_id = '{loyalty}'") == [(0,)]
    assert query(work, "select count(*) from raw_commerce.order_lines l left join raw_commerce.orders o"
                       " on o.order_id = l.order_id where o.order_id is null") == [(0,)]
    with sqlite3.connect(small_world / "systems" / "pos.sqlite") as pos:
        totals = {t: pos.execute(f"select count(*) from {t}").fetchone()[0]
                  for t in ("customers", "orders", "order_lines")}
    for table, total in totals.items():
        assert loaded[table] + counter.of("commerce", table) == total, table
    assert counter.of("commerce", "order_lines") > 0
    # nested rows went with their tickets: no orphans
    assert query(work, "select count(*) from raw_support.tickets__tags g left join raw_support.tickets t"
                       " on t._dlt_id = g._dlt_parent_id where t._dlt_id is null") == [(0,)]
    assert counter.total == sum(counter.dropped.values()) > 0


# --- landing files ----------------------------------------------------------------------------


def test_scrubbing_jsonl_keeps_other_lines_their_numbers_and_the_files_time(
    small_world: Path, tmp_path: Path
) -> None:
    person, mine = chosen_person(small_world)
    hashes = person_hashes(person, set())
    landing = tmp_path / "landing"
    shutil.copytree(small_world / "landing" / "events", landing)
    files = sorted(landing.glob("*.jsonl"))
    # the first three files are loaded before the scrub, the fourth after it
    new_file = files[-1]
    parked = tmp_path / new_file.name
    shutil.move(new_file, parked)
    first = run_source("events", SOURCES["events"].factory(bucket_url=str(landing)), tmp_path)
    before = {path: (path.read_bytes().splitlines(keepends=True), path.stat().st_mtime_ns) for path in files[:-1]}

    removed = {path: scrub_landing_file(path, "events", hashes) for path in files[:-1]}

    assert sum(removed.values()) > 0
    for path, (lines, mtime) in before.items():
        after = path.read_bytes().splitlines(keepends=True)
        assert len(after) == len(lines) and path.stat().st_mtime_ns == mtime
        changed = [i for i, (old, new) in enumerate(zip(lines, after)) if old != new]
        assert len(changed) == removed[path]
        assert all(after[i] == b"\n" and json.loads(lines[i])["messageId"] in mine[("events", "events")]
                   for i in changed)
    assert not [p for p in landing.iterdir() if p.suffix != ".jsonl"], "a temporary file was left behind"
    # nothing new: the scrubbed files are not loaded again
    assert run_source("events", SOURCES["events"].factory(bucket_url=str(landing)), tmp_path) == {}
    # a new file loads, scrubbed too, and only it
    shutil.move(parked, new_file)
    late = scrub_landing_file(new_file, "events", hashes)
    third = run_source("events", SOURCES["events"].factory(bucket_url=str(landing)), tmp_path)
    new_lines = sum(1 for line in new_file.open() if line.strip())
    assert third["events"] == new_lines
    theirs = sorted(mine[("events", "events")])
    loaded = {row[0] for row in query(tmp_path, "select message_id, _source_file from raw_events.events")
              if row[1].endswith(new_file.name)}
    assert loaded and loaded.isdisjoint(theirs), "the scrubbed new file brought none of their events"
    total = query(tmp_path, "select count(*) from raw_events.events")[0][0]
    assert total == first["events"] + new_lines
    # a fresh load of the scrubbed folder: every other line, at its original line number
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    reloaded = run_source("events", SOURCES["events"].factory(bucket_url=str(landing)), fresh)
    assert reloaded["events"] == first["events"] + new_lines - sum(removed.values())
    lineage = set(query(fresh, "select message_id, _source_file, _source_line from raw_events.events"))
    original = set(query(tmp_path, "select message_id, _source_file, _source_line from raw_events.events"))
    assert lineage < original
    delivered = [json.loads(line) for path in sorted((small_world / "landing" / "events").glob("*.jsonl"))
                 for line in path.read_bytes().splitlines() if line.strip()]
    assert sum(removed.values()) + late == sum(1 for event in delivered if event.get("messageId") in mine[
        ("events", "events")])  # every line of theirs, in the old files and the new one, and no other


LIST_MAPPING = """\
name: fair
columns:
  Email: email
  Phone: phone
  Country: country
  Notes: {trait: notes}
"""


def test_scrubbing_a_csv_list_keeps_every_other_byte_and_row_number(tmp_path: Path) -> None:
    rows = [
        b"Email,Phone,Country,Notes\r\n",
        b"ana@example.com,(415) 555-0134,US,plain\r\n",
        b'bo@example.com,,GB,"two\r\nlines, and ""quotes"""\r\n',
        b"\r\n",
        b"ANA@EXAMPLE.COM ,,US,the same person again\r\n",
        b"cy@example.com,07700 900123,UK,\xc3\xa9t\xc3\xa9\r\n",
        b"dee@example.com,07700 900123,US,not the same phone\r\n",
        b"eve@example.com,,US,no line end",
    ]
    data = tmp_path / "fair.csv"
    data.write_bytes(b"\xef\xbb\xbf" + b"".join(rows))
    (tmp_path / "fair.yaml").write_text(LIST_MAPPING)
    os.utime(data, ns=(1_700_000_000_000_000_000, 1_700_000_000_123_456_789))

    def members() -> dict[int, str]:
        mapping = parse_mapping(LIST_MAPPING, mapping_file="fair.yaml", data_file="fair.csv")
        _, found = read_csv_rows(data.read_bytes(), data_file="fair.csv")
        return {m["source_row"]: m["member_key"] for m in member_rows(mapping, found, data_file="fair.csv")}

    before = members()
    hashes = {identifier_hash("email", "ana@example.com"), identifier_hash("phone", "+447700900123")}

    assert scrub_landing_file(data, "lists", hashes) == 3

    assert data.read_bytes() == b"\xef\xbb\xbf" + b"".join(
        [rows[0], b"\r\n", rows[2], rows[3], b"\r\n", b"\r\n", rows[6], rows[7]])
    assert data.stat().st_mtime_ns == 1_700_000_000_123_456_789
    after = members()
    assert after == {row: key for row, key in before.items() if row not in (2, 5, 6)}
    assert scrub_landing_file(data, "lists", hashes) == 0  # nothing left: the file is not touched


def test_scrubbing_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    hashes = {identifier_hash("email", "ana@example.com")}
    with pytest.raises(TombstoneError, match="no such landing file"):
        scrub_landing_file(tmp_path / "missing.jsonl", "events", hashes)
    parquet = tmp_path / "fair.parquet"
    parquet.write_bytes(b"PAR1")
    with pytest.raises(TombstoneError, match="only CSV customer lists"):
        scrub_landing_file(parquet, "lists", hashes)
    lonely = tmp_path / "lonely.csv"
    lonely.write_text("Email\nana@example.com\n")
    with pytest.raises(TombstoneError, match="no column mapping beside it"):
        scrub_landing_file(lonely, "lists", hashes)
    with pytest.raises(TombstoneError, match="the commerce source is not read from landing files"):
        scrub_landing_file(lonely, "commerce", hashes)
    text = tmp_path / "events.txt"
    text.write_text("{}\n")
    with pytest.raises(TombstoneError, match="must be .jsonl"):
        scrub_landing_file(text, "events", hashes)
