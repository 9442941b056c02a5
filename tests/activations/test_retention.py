"""Retention of raw data: real dlt loads into a temporary DuckDB, some made old, then purged.

Expected counts come from dlt's own per-load row counts and from the landing files, never from
the purge itself.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dlt
import pytest

from activations.governance import audit
from activations.governance.retention import (
    QUARANTINE,
    RetentionConfigError,
    load_retention_config,
    parse_retention_config,
    purge,
)
from dlt_sources.pipelines import SOURCES
from expectations import quarantine
from expectations.warehouse import DuckDBWarehouse, PostgresWarehouse
from tests.dlt_sources.loading import run_source
from tests.postgres_server import PostgresServer, postgres_bin_dir, running_postgres

PRODUCTS = "events__properties__products"


def stage(world: Path, source: str, target: Path, batches: slice) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted((world / "landing" / source).glob("*.jsonl"))[batches]:
        shutil.copy2(path, target / path.name)


@pytest.fixture(scope="module")
def loaded(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A warehouse with two events loads (batches 1-2, then 3-4), one email load and one support load."""
    work = tmp_path_factory.mktemp("retention")
    landing = work / "landing"
    stage(small_world, "events", landing / "events", slice(0, 2))
    first = run_source("events", SOURCES["events"].factory(bucket_url=str(landing / "events")), work)
    stage(small_world, "events", landing / "events", slice(2, 4))
    second = run_source("events", SOURCES["events"].factory(bucket_url=str(landing / "events")), work)
    email = run_source("email", SOURCES["email"].factory(bucket_url=str(small_world / "landing" / "email")), work)
    support = run_source("support", SOURCES["support"].factory(bucket_url=str(small_world / "landing" / "support")),
                         work)
    assert first[PRODUCTS] > 0 and second[PRODUCTS] > 0, "the world's events carry products in both loads"
    return work / "wh.duckdb", {"first": first, "second": second, "email": email, "support": support}


@pytest.fixture
def warehouse(loaded, tmp_path: Path):
    path, _ = loaded
    copy = tmp_path / "wh.duckdb"
    shutil.copy2(path, copy)
    with DuckDBWarehouse(copy) as warehouse:
        yield warehouse


def count(warehouse, table: str, where: str = "true") -> int:
    return int(warehouse.query(f"select count(*) as n from {table} where {where}")["n"].iloc[0])


def load_ids(warehouse, schema: str) -> list[str]:
    return list(warehouse.query(f"select load_id from {schema}._dlt_loads order by load_id")["load_id"])


def age_load(warehouse, schema: str, load_id: str, days: int, now: datetime) -> None:
    warehouse.execute(f"update {schema}._dlt_loads set inserted_at = ? where load_id = ?",
                      (now - timedelta(days=days), load_id))


def snapshot(warehouse) -> dict[str, int]:
    tables = ("raw_events.events", f"raw_events.{PRODUCTS}", "raw_email.email_events", "raw_support.tickets",
              "raw_support.tickets__tags")
    return {table: count(warehouse, table) for table in tables}


CONFIG = parse_retention_config({"retention": {
    "events/events": {"keep_days": 395},
    "email/email_events": {"keep_days": 730},
    "lists/list_members": {"keep_days": 30},   # not loaded in this warehouse
    "crm/contacts": {"keep_days": 30},         # nor this
}}, sources=SOURCES)


def test_expired_loads_are_purged_with_their_nested_rows_and_audited(warehouse, loaded) -> None:
    _, counts = loaded
    now = datetime.now(timezone.utc)
    first_load, second_load = load_ids(warehouse, "raw_events")
    age_load(warehouse, "raw_events", first_load, 400, now)   # older than 395 days: expired
    age_load(warehouse, "raw_events", second_load, 395, now)  # exactly at the cutoff: kept
    age_load(warehouse, "raw_email", load_ids(warehouse, "raw_email")[0], 400, now)  # email keeps 730 days
    before = snapshot(warehouse)
    assert before["raw_events.events"] == counts["first"]["events"] + counts["second"]["events"]

    report = purge(warehouse, CONFIG, now=now, run_id="run-42")

    assert report.skipped == ["lists/list_members", "crm/contacts"]
    assert report.rows() == {
        "raw_events.events": counts["first"]["events"],
        f"raw_events.{PRODUCTS}": counts["first"][PRODUCTS],
        "raw_email.email_events": 0,
    }
    assert count(warehouse, "raw_events.events") == counts["second"]["events"]
    assert count(warehouse, "raw_events.events", f"_dlt_load_id = '{first_load}'") == 0
    assert count(warehouse, f"raw_events.{PRODUCTS}") == counts["second"][PRODUCTS]
    orphans = count(warehouse, f"raw_events.{PRODUCTS} as c",
                    "not exists (select 1 from raw_events.events as p where p._dlt_id = c._dlt_parent_id)")
    assert orphans == 0
    assert count(warehouse, "raw_email.email_events") == counts["email"]["email_events"]
    assert count(warehouse, "raw_support.tickets") == before["raw_support.tickets"]  # no rule: untouched

    log = audit.read(warehouse, action="retention.purge")
    cutoff = (now - timedelta(days=395)).isoformat()
    assert [json.loads(detail) for detail in log["detail"]] == [
        {"table": "raw_events.events", "rows": counts["first"]["events"], "cutoff": cutoff},
        {"table": f"raw_events.{PRODUCTS}", "rows": counts["first"][PRODUCTS], "cutoff": cutoff,
         "parent": "raw_events.events"},
        {"table": "raw_email.email_events", "rows": 0, "cutoff": (now - timedelta(days=730)).isoformat()},
    ]
    assert list(log["subject_id"]) == ["raw_events.events", f"raw_events.{PRODUCTS}", "raw_email.email_events"]
    assert set(log["actor"]) == {"system"} and set(log["run_id"]) == {"run-42"}

    # nothing more has expired: a second run deletes nothing and says so for the configured tables only
    again = purge(warehouse, CONFIG, now=now)
    assert again.total_rows == 0
    assert len(audit.read(warehouse, action="retention.purge")) == 5


def test_a_dry_run_counts_the_same_rows_and_changes_nothing(warehouse, loaded) -> None:
    _, counts = loaded
    now = datetime.now(timezone.utc)
    age_load(warehouse, "raw_events", load_ids(warehouse, "raw_events")[0], 400, now)
    before = snapshot(warehouse)

    dry = purge(warehouse, CONFIG, now=now, dry_run=True)

    assert dry.dry_run and dry.rows()["raw_events.events"] == counts["first"]["events"]
    assert dry.rows()[f"raw_events.{PRODUCTS}"] == counts["first"][PRODUCTS]
    assert snapshot(warehouse) == before
    assert not warehouse.table_exists("governance", "audit_log")  # nothing recorded, nothing created
    assert purge(warehouse, CONFIG, now=now).rows() == dry.rows()


def test_quarantine_entries_of_purged_rows_go_with_them(warehouse) -> None:
    now = datetime.now(timezone.utc)
    first_load, second_load = load_ids(warehouse, "raw_events")
    age_load(warehouse, "raw_events", first_load, 400, now)

    def row_id(table: str, load_id: str) -> str:
        """A row of `table` from the load `load_id` (a nested row: by its parent's load)."""
        join = "" if table == "events" else " join raw_events.events as p on p._dlt_id = t._dlt_parent_id"
        loaded = "t" if table == "events" else "p"
        sql = f"select t._dlt_id from raw_events.{table} as t{join} where {loaded}._dlt_load_id = ?"
        return warehouse.query(f"{sql} order by t._dlt_id limit 1", (load_id,))["_dlt_id"].iloc[0]

    quarantine.ensure_tables(warehouse)
    entries = [
        ("events", "events", row_id("events", first_load), first_load),       # purged with its row
        ("events", PRODUCTS, row_id(PRODUCTS, first_load), first_load),       # purged with its nested row
        ("events", "events", row_id("events", second_load), second_load),     # kept
        ("email", "events", row_id("events", first_load), first_load),        # another source's entry: kept
    ]
    for n, (source, table, row, load) in enumerate(entries):
        warehouse.execute(
            f"insert into {QUARANTINE} (source, table_name, row_key, row_id, load_id, expectation, reason, severity,"
            " first_seen_at, last_seen_at) values (?, ?, ?, ?, ?, 'e', 'r', 'critical', ?, ?)",
            (source, table, f"key{n}", row, load, now, now))

    report = purge(warehouse, CONFIG, now=now)

    assert report.quarantine_rows == 2
    left = warehouse.query(f"select row_key from {QUARANTINE} order by row_key")["row_key"].tolist()
    assert left == ["key2", "key3"]
    details = [json.loads(d) for d in audit.read(warehouse, subject_id=QUARANTINE)["detail"]]
    assert [(d["rows"], d["for_table"]) for d in details] == [(2, "raw_events.events")]


def test_retention_by_a_timestamp_column_purges_merged_records_and_their_nested_rows(warehouse, small_world) -> None:
    newest: dict[int, dict] = {}
    for path in sorted((small_world / "landing" / "support").glob("*.jsonl")):
        for line in path.open():
            ticket = json.loads(line)
            if ticket["id"] not in newest or ticket["updated_at"] >= newest[ticket["id"]]["updated_at"]:
                newest[ticket["id"]] = ticket
    stamps = sorted(datetime.fromisoformat(t["updated_at"].replace("Z", "+00:00")) for t in newest.values())
    now = datetime.now(timezone.utc)
    keep_days = (now - stamps[len(stamps) // 2]).days
    cutoff = now - timedelta(days=keep_days)
    kept = [t for t in newest.values() if datetime.fromisoformat(t["updated_at"].replace("Z", "+00:00")) >= cutoff]
    assert 0 < len(kept) < len(newest)
    config = parse_retention_config({"retention": {"support/tickets": {"keep_days": keep_days, "by": "updated_at"}}})

    report = purge(warehouse, config, now=now)

    assert count(warehouse, "raw_support.tickets") == len(kept)
    assert count(warehouse, "raw_support.tickets__tags") == sum(len(t["tags"]) for t in kept)
    assert report.rows() == {"raw_support.tickets": len(newest) - len(kept),
                             "raw_support.tickets__tags": sum(len(t["tags"]) for t in newest.values())
                             - sum(len(t["tags"]) for t in kept)}
    assert count(warehouse, "raw_support.tickets__tags as c",
                 "not exists (select 1 from raw_support.tickets as p where p._dlt_id = c._dlt_root_id)") == 0


def test_an_unknown_or_untyped_by_column_fails_before_anything_is_deleted(warehouse) -> None:
    now = datetime.now(timezone.utc)
    age_load(warehouse, "raw_events", load_ids(warehouse, "raw_events")[0], 400, now)
    before = snapshot(warehouse)
    config = parse_retention_config({"retention": {
        "events/events": {"keep_days": 395},                          # valid, listed first
        "support/tickets": {"keep_days": 30, "by": "updated_att"},    # no such column
        "email/email_events": {"keep_days": 30, "by": "event_type"},  # text, not a timestamp
    }})
    with pytest.raises(RetentionConfigError) as error:
        purge(warehouse, config, now=now)
    message = str(error.value)
    assert "support/tickets (table raw_support.tickets): `by` column 'updated_att' does not exist" in message
    assert "email/email_events (table raw_email.email_events): `by` column 'event_type'" in message
    assert "not a timestamp or date" in message
    assert len(error.value.problems) == 2
    assert snapshot(warehouse) == before
    assert not warehouse.table_exists("governance", "audit_log")


def test_every_problem_of_the_retention_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "retention.yml"
    bad.write_text(
        "retention:\n"
        "  events: {keep_days: 30}\n"
        "  events/events: {keep_days: 0}\n"
        "  email/email_events: {keep_days: -3, by: 5}\n"
        "  shop/orders: {keep_days: 10}\n"
        "  events/events__properties__products: {keep_days: 10}\n"
        "  support/tickets: {keep_days: '30', colour: red}\n"
        "  lists/list_members: 30\n"
        "  crm/contacts: {keep_days: true}\n"
        "schedule: daily\n"
    )
    with pytest.raises(RetentionConfigError) as error:
        load_retention_config(bad, sources=SOURCES)
    message = str(error.value)
    assert message.startswith(f"retention file {bad}:")
    expected = [
        "unknown top-level setting 'schedule'",
        "table 'events': a table is named <source>/<table>",
        "table 'events/events': keep_days must be a positive whole number of days, got 0",
        "table 'email/email_events': keep_days must be a positive whole number of days, got -3",
        "table 'email/email_events': by must name a timestamp column",
        "table 'shop/orders': unknown source 'shop'",
        "table 'events/events__properties__products': events__properties__products is a nested table",
        "table 'support/tickets': unknown setting(s) colour",
        "table 'support/tickets': keep_days must be a positive whole number of days, got '30'",
        "table 'lists/list_members': expected {keep_days: N}",
        "table 'crm/contacts': keep_days must be a positive whole number of days, got True",
    ]
    for problem in expected:
        assert problem in message, problem
    assert len(error.value.problems) == len(expected)

    missing = tmp_path / "nowhere.yml"
    with pytest.raises(RetentionConfigError, match="the file does not exist"):
        load_retention_config(missing)
    (tmp_path / "empty.yml").write_text("retention:\n")
    assert load_retention_config(tmp_path / "empty.yml").rules == ()


def test_the_shipped_retention_file_loads() -> None:
    config = load_retention_config(sources=SOURCES)
    assert {(rule.name, rule.keep_days, rule.by) for rule in config.rules} == {
        ("events/events", 395, None), ("email/email_events", 730, None)}



# -- any depth of nesting, on DuckDB and on PostgreSQL ---------------------------------------------


def orders(first_id: int, count: int) -> list[dict]:
    """Orders with two lines each; a line has one option per unit of its quantity."""
    return [{"id": first_id + n, "lines": [{"sku": f"s{n}-{k}", "options": [{"k": o} for o in range(k + 1)]}
                                           for k in range(2)]} for n in range(count)]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    with running_postgres() as server:
        yield server


@pytest.mark.parametrize("target", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_nested_tables_at_any_depth_are_purged_on_both_warehouses(target: str, request, tmp_path: Path) -> None:
    if target == "postgres":
        server = request.getfixturevalue("postgres")
        destination, connect = dlt.destinations.postgres(server.url), lambda: PostgresWarehouse(server.url)
    else:
        destination = dlt.destinations.duckdb(str(tmp_path / "wh.duckdb"))
        connect = lambda: DuckDBWarehouse(tmp_path / "wh.duckdb")  # noqa: E731
    pipeline = dlt.pipeline("retention_nested", destination=destination, dataset_name="raw_shop",
                            pipelines_dir=str(tmp_path / "pipelines"))
    pipeline.run(orders(1, 3), table_name="orders")   # the old load: 3 orders, 6 lines, 9 options
    pipeline.run(orders(10, 2), table_name="orders")  # the new one: 2 orders, 4 lines, 6 options
    now = datetime.now(timezone.utc)
    config = parse_retention_config({"retention": {"shop/orders": {"keep_days": 30}}})
    with connect() as warehouse:
        old = load_ids(warehouse, "raw_shop")[0]
        age_load(warehouse, "raw_shop", old, 31, now)

        report = purge(warehouse, config, now=now, actor="cli:ana")

        assert report.rows() == {"raw_shop.orders": 3, "raw_shop.orders__lines": 6,
                                 "raw_shop.orders__lines__options": 9}
        assert [count(warehouse, f"raw_shop.{t}") for t in ("orders", "orders__lines", "orders__lines__options")] \
            == [2, 4, 6]
        assert sorted(warehouse.query("select id from raw_shop.orders")["id"].astype(int)) == [10, 11]
        log = audit.read(warehouse, action="retention.purge")
        assert [(row.subject_id, json.loads(row.detail)["rows"], row.actor) for row in log.itertuples()] == [
            ("raw_shop.orders", 3, "cli:ana"), ("raw_shop.orders__lines", 6, "cli:ana"),
            ("raw_shop.orders__lines__options", 9, "cli:ana")]
        assert log["seq"].is_monotonic_increasing
        assert purge(warehouse, config, now=now, dry_run=True).total_rows == 0
