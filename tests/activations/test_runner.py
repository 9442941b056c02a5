"""Activation runs over a warehouse: consent and suppression, priorities, membership history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from activations.config import ActivationConfig, audiences_from_manifest, load_destinations, DESTINATIONS_FILE
from activations.destinations.files import FileDestination
from activations.engine import LEDGER, Change, ConsentViolation, RecordResult
from activations.runner import (
    MEMBERSHIP_CHANGES,
    SUPPRESSIONS,
    activate,
    consent_guard,
    plan_text,
    record_membership,
    size_history,
    unconsented_sent_rows,
)
from expectations.warehouse import connect


class Counting:
    """A file destination that counts the batches reaching it."""

    def __init__(self, folder: Path) -> None:
        self.inner = FileDestination("email_platform", folder)
        self.name, self.batch_size, self.fields = "email_platform", 2, None
        self.batches: list[tuple[str, str, list[str]]] = []

    def send(self, audience: str, operation: str, changes: Sequence[Change], key: str) -> list[RecordResult]:
        self.batches.append((audience, operation, [c.customer_id for c in changes]))
        return self.inner.send(audience, operation, changes, key)


def model(name: str, priority: int | None = None) -> dict:
    target = {"mode": "mirror", "fields": ["email", "first_name"]}
    if priority is not None:
        target["exclusive_group"] = "winback"
    return {"resource_type": "model", "name": name, "schema": "audiences", "alias": name,
            "fqn": ["opencdp", "audiences", name], "columns": {c: {} for c in ("customer_id", "email", "first_name")},
            "config": {"meta": {"audience": {"priority": priority, "destinations": {"email_platform": target}}}}}


@pytest.fixture
def world(tmp_path: Path):
    destinations = load_destinations(DESTINATIONS_FILE, home=tmp_path, env={})
    audiences = audiences_from_manifest({"nodes": {m["name"]: m for m in (model("at_risk", 1), model("lapsed", 2))}},
                                        destinations)
    with connect("duckdb", duckdb_path=tmp_path / "w.duckdb") as warehouse:
        for schema in ("identity", "profiles", "audiences"):
            warehouse.execute(f"create schema {schema}")
        customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(1, 7)], "status": "active"})
        customers.loc[customers.customer_id == "c6", "status"] = "merged"
        put(warehouse, "identity.identity_customers", customers)
        consent = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4", "c6"], "channel": "email",
                                "granted": [True, True, None, False, True]})
        put(warehouse, "profiles.customer_consent", consent)
        set_audience(warehouse, "at_risk", ["c1", "c2", "c3", "c4", "c6"])
        set_audience(warehouse, "lapsed", [])
        yield warehouse, ActivationConfig(destinations, audiences), Counting(tmp_path / "out")


def put(warehouse, relation: str, frame: pd.DataFrame) -> None:
    warehouse.con.register("_frame", frame)
    warehouse.execute(f"create or replace table {relation} as select * from _frame")
    warehouse.con.unregister("_frame")


def set_audience(warehouse, name: str, members: list[str]) -> None:
    frame = pd.DataFrame({"customer_id": members, "email": [f"{m}@mail.test" for m in members],
                          "first_name": [m.upper() for m in members]}, dtype=object)
    put(warehouse, f"audiences.{name}", frame)


def sync(warehouse, config, client, audience: str = "at_risk", run: str = "r1", **options):
    return activate(warehouse, config, audience, "email_platform", client, run_id=run, **options)


def test_only_consented_active_unsuppressed_members_leave(world) -> None:
    warehouse, config, client = world
    report = sync(warehouse, config, client)
    # c3: consent unknown, c4: denied, c6: retired (merged) -> never sent
    assert sorted(c for _, _, ids in client.batches for c in ids) == ["c1", "c2"]
    assert (report.added, report.skipped_consent) == (2, 3)
    assert unconsented_sent_rows(warehouse, "email_platform", "email", "at_risk", "r1").empty

    client.batches.clear()
    assert sync(warehouse, config, client, run="r2").requests == 0 and client.batches == []

    warehouse.execute(f"insert into {SUPPRESSIONS} values ('c1', 'suppress request', now())")
    warehouse.execute("update profiles.customer_consent set granted = false where customer_id = 'c2'")
    report = sync(warehouse, config, client, run="r3")
    assert client.batches == [("at_risk", "remove", ["c1", "c2"])]
    assert report.removed == 2
    reasons = warehouse.query(f"select customer_id, reason from {LEDGER} where sync_run_id = 'r3' order by 1")
    assert list(reasons.itertuples(index=False, name=None)) == [("c1", "no_consent"), ("c2", "no_consent")]
    # the check after the sync looks at what r1 sent: c2 has since said no
    assert list(unconsented_sent_rows(warehouse, "email_platform", "email", "at_risk", "r1")["customer_id"]) == [
        "c1", "c2"]


def test_the_last_check_before_sending_stops_a_sync_with_nothing_sent(world) -> None:
    warehouse, _, client = world
    guard = consent_guard(warehouse, "email_platform", "email")
    guard([Change("c1", "add", {}, "h")])
    with pytest.raises(ConsentViolation, match=r"1 outgoing row\(s\) to 'email_platform' lack email consent.*c4"):
        guard([Change("c1", "add", {}, "h"), Change("c4", "add", {}, "h")])


def test_a_dry_run_plans_without_sending_and_prints_no_values(world) -> None:
    warehouse, config, client = world
    report = sync(warehouse, config, client, dry_run=True)
    assert client.batches == [] and report.added == 2
    text = plan_text(report)
    assert "at_risk -> email_platform (mirror): 2 to add" in text
    assert "add    c1: email, first_name" in text and "@mail.test" not in text


def test_a_person_in_two_audiences_of_an_exclusive_group_goes_to_the_higher_priority_one(world) -> None:
    warehouse, config, client = world
    set_audience(warehouse, "lapsed", ["c1", "c2"])
    sync(warehouse, config, client)
    report = sync(warehouse, config, client, audience="lapsed")
    assert report.skipped_priority == 2 and report.added == 0
    set_audience(warehouse, "at_risk", ["c2"])  # c1 left at_risk: now lapsed may hold them
    sync(warehouse, config, client, run="r2")
    report = sync(warehouse, config, client, audience="lapsed", run="r2")
    assert (report.added, report.skipped_priority) == (1, 1)
    assert client.batches[-2:] == [("at_risk", "remove", ["c1"]), ("lapsed", "upsert", ["c1"])]
    runs = warehouse.query("select skipped_priority from activation.sync_runs where audience = 'lapsed' order by started_at")
    assert list(runs["skipped_priority"]) == [2, 1]


def test_membership_history_records_who_moved_and_why(world) -> None:
    warehouse, config, _ = world
    audience = config.audiences["at_risk"]
    first = record_membership(warehouse, audience, run_id="r1", now=datetime(2026, 10, 15, tzinfo=timezone.utc))
    assert (first.size, first.entered, first.exited) == (5, 5, 0)

    warehouse.execute("create schema snapshots")
    history = pd.DataFrame({
        "customer_id": ["c1", "c1", "c7", "c2"],
        "rfm_segment": ["loyal", "at_risk", "at_risk", "at_risk"],
        "orders_count": [4, 4, 1, 2],
        "dbt_valid_from": pd.to_datetime(["2026-10-01", "2026-11-01", "2026-11-01", "2026-10-01"], utc=True),
        "dbt_valid_to": pd.to_datetime(["2026-11-01", None, None, None], utc=True),
    })
    put(warehouse, "snapshots.customer_traits_history", history)
    set_audience(warehouse, "at_risk", ["c3", "c4", "c6", "c7", "c8"])
    second = record_membership(warehouse, audience, run_id="r2", now=datetime(2026, 11, 2, tzinfo=timezone.utc))
    assert (second.size, second.entered, second.exited) == (5, 2, 2)
    why = {(s["customer_id"], s["change"]): s["reason"] for s in second.sample}
    assert why[("c7", "entered")] == "first traits on record: rfm_segment at_risk, orders_count 1"
    assert why[("c2", "exited")].startswith("no snapshotted trait moved")
    assert why[("c1", "exited")] == "rfm_segment loyal -> at_risk"  # the version of 10-15 against today's
    assert why[("c8", "entered")].startswith("no snapshotted trait moved")  # not in the snapshot at all
    record_membership(warehouse, audience, run_id="r3", now=datetime(2026, 11, 3, tzinfo=timezone.utc))
    assert list(size_history(warehouse, "at_risk")["size"]) == [5, 5, 5]
    changes = warehouse.query(f"select customer_id, change, run_id from {MEMBERSHIP_CHANGES} where run_id = 'r2'"
                              " order by 1")
    assert list(changes.itertuples(index=False, name=None)) == [
        ("c1", "exited", "r2"), ("c2", "exited", "r2"), ("c7", "entered", "r2"), ("c8", "entered", "r2")]
