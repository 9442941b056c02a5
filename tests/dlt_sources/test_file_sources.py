"""The landing-folder sources and the POS database source, each into a temporary DuckDB.

Counts are checked against the generator's ground truth; a second run with nothing new loads
nothing; a new batch loads only its rows; mutable records are merged to one row per key.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from dlt_sources.commerce import commerce_source
from dlt_sources.pipelines import SOURCES
from tests.dlt_sources.loading import jsonl_lines, query, run_source, table_count

LANDING = {"events": "events", "email": "email_events", "support": "tickets"}


def truth(world: Path) -> Counter:
    with (world / "ground_truth" / "records.csv").open(newline="") as handle:
        return Counter((row["source"], row["table"]) for row in csv.DictReader(handle))


def stage_batches(world: Path, source: str, target: Path, upto: int) -> None:
    """Copies batches 1..upto of a source's landing files into `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted((world / "landing" / source).glob("*.jsonl"))[:upto]:
        shutil.copy2(path, target / path.name)


@pytest.mark.parametrize("source", sorted(LANDING))
def test_landing_source_loads_every_line_then_only_new_files(small_world: Path, tmp_path: Path, source: str) -> None:
    landing = tmp_path / "landing"
    factory = SOURCES[source].factory
    batches = sorted((small_world / "landing" / source).glob("*.jsonl"))
    assert len(batches) == 4

    stage_batches(small_world, source, landing, 3)
    first = run_source(source, factory(bucket_url=str(landing)), tmp_path)
    assert first[LANDING[source]] == jsonl_lines(landing)

    assert run_source(source, factory(bucket_url=str(landing)), tmp_path) == {}

    stage_batches(small_world, source, landing, 4)
    third = run_source(source, factory(bucket_url=str(landing)), tmp_path)
    assert third[LANDING[source]] == sum(1 for line in batches[3].open() if line.strip())


def test_events_keep_duplicates_in_raw_and_lineage_to_the_file_line(small_world: Path, tmp_path: Path) -> None:
    landing = small_world / "landing" / "events"
    run_source("events", SOURCES["events"].factory(bucket_url=str(landing)), tmp_path)
    raw, distinct = query(tmp_path, "select count(*), count(distinct message_id) from raw_events.events")[0]
    assert raw == jsonl_lines(landing)
    assert distinct == truth(small_world)[("events", "events")]
    assert raw > distinct, "the world re-delivers some events; raw keeps every delivery"
    file_name, line_number, message_id = query(
        tmp_path, "select _source_file, _source_line, message_id from raw_events.events order by message_id limit 1"
    )[0]
    line = (landing / file_name).read_text().splitlines()[line_number - 1]
    assert f'"messageId":"{message_id}"' in line.replace(" ", "")


def test_a_malformed_line_is_kept_with_its_reason_and_the_rest_loads(small_world: Path, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    stage_batches(small_world, "email", landing, 1)
    path = next(landing.glob("*.jsonl"))
    good = sum(1 for line in path.open() if line.strip())
    with path.open("a") as handle:
        handle.write('{"event_id": "broken", \n')
        handle.write("[1, 2]\n")
    loaded = run_source("email", SOURCES["email"].factory(bucket_url=str(landing)), tmp_path)
    assert loaded["email_events"] == good
    rows = query(tmp_path, "select source_file, source_line, error from raw_email.unparsed_lines order by source_line")
    assert [(row[0], row[1]) for row in rows] == [(path.name, good + 1), (path.name, good + 2)]
    assert rows[0][2].startswith("invalid JSON") and rows[1][2] == "a JSON list, not an object"


def test_support_tickets_merge_to_the_newest_snapshot(small_world: Path, tmp_path: Path) -> None:
    landing = small_world / "landing" / "support"
    run_source("support", SOURCES["support"].factory(bucket_url=str(landing)), tmp_path)
    assert jsonl_lines(landing) > truth(small_world)[("support", "tickets")], "the world re-exports updated tickets"
    assert table_count(tmp_path, "raw_support.tickets") == truth(small_world)[("support", "tickets")]
    assert query(tmp_path, "select count(*) - count(distinct id) from raw_support.tickets")[0][0] == 0
    newest = {}
    for path in sorted(landing.glob("*.jsonl")):
        for line in path.open():
            ticket = json.loads(line)
            if ticket["id"] not in newest or ticket["updated_at"] >= newest[ticket["id"]]["updated_at"]:
                newest[ticket["id"]] = ticket
    loaded = dict(query(tmp_path, "select id, status from raw_support.tickets"))
    assert loaded == {ticket_id: ticket["status"] for ticket_id, ticket in newest.items()}


def test_the_attendee_list_loads_against_ground_truth(small_world: Path, tmp_path: Path) -> None:
    landing = small_world / "landing" / "lists"
    loaded = run_source("lists", SOURCES["lists"].factory(bucket_url=str(landing)), tmp_path)
    assert loaded["list_members"] == truth(small_world)[("lists", "event_attendees")]
    assert run_source("lists", SOURCES["lists"].factory(bucket_url=str(landing)), tmp_path) == {}


def test_commerce_loads_every_table_then_only_changed_rows_merged_by_key(world_copy: Path, tmp_path: Path) -> None:
    database = world_copy / "systems" / "pos.sqlite"
    url = f"sqlite:///{database}"
    first = run_source("commerce", commerce_source(credentials=url), tmp_path)
    with sqlite3.connect(database) as con:
        expected = {table: con.execute(f"select count(*) from {table}").fetchone()[0] for table in ("stores", "customers", "orders", "order_lines")}
    assert first == expected
    assert expected["orders"] == truth(world_copy)[("commerce", "orders")]

    assert run_source("commerce", commerce_source(credentials=url), tmp_path) == {}

    with sqlite3.connect(database) as con:
        newest = con.execute("select max(updated_at) from orders").fetchone()[0]
        order_id = con.execute("select order_id from orders order by updated_at limit 1").fetchone()[0]
        con.execute(
            "update orders set status = 'refunded', updated_at = datetime(?, '+1 day') where order_id = ?", (newest, order_id)
        )
        con.execute(
            "insert into orders (order_id, channel, currency, subtotal_amount, tax_amount, total_amount, status, ordered_at, updated_at)"
            " values ('S9999999', 'pos', 'USD', 10, 1, 11, 'completed', datetime(?, '+1 day'), datetime(?, '+1 day'))",
            (newest, newest),
        )
    third = run_source("commerce", commerce_source(credentials=url), tmp_path)
    assert third == {"orders": 2}
    assert table_count(tmp_path, "raw_commerce.orders") == expected["orders"] + 1
    assert query(tmp_path, f"select status from raw_commerce.orders where order_id = '{order_id}'") == [("refunded",)]
    assert query(tmp_path, "select count(*) - count(distinct order_id) from raw_commerce.orders")[0][0] == 0
    assert query(tmp_path, "select count(*) from raw_commerce.orders where _dlt_load_id is null")[0][0] == 0


def test_unknown_tables_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown commerce table\(s\) \['refunds'\]"):
        list(commerce_source(credentials="sqlite:///:memory:", tables=("orders", "refunds")).resources)
