"""The sync engine: diffs, modes, consent removal, retries to dead, crash recovery without double sends."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from activations.destinations.files import FileDestination
from activations.engine import (
    LEDGER,
    OUTBOX,
    Change,
    RecordResult,
    SyncEngine,
    SyncError,
    desired_from_frame,
    payload_hash,
    plan,
)
from expectations.warehouse import connect


@pytest.fixture
def warehouse(tmp_path: Path):
    with connect("duckdb", duckdb_path=tmp_path / "w.duckdb") as wh:
        yield wh


class Recording:
    """Wraps a real destination: counts what reaches it, can reject emails or crash once after sending."""

    def __init__(self, inner: FileDestination) -> None:
        self.inner = inner
        self.name = inner.name
        self.batch_size = inner.batch_size
        self.sent: list[tuple[str, str, str]] = []  # (idempotency key, customer, operation)
        self.keys: list[str] = []
        self.reject: dict[str, str] = {}
        self.crash_after_sends: int | None = None

    def send(self, audience: str, operation: str, changes: Sequence[Change], key: str) -> list[RecordResult]:
        results = self.inner.send(audience, operation, changes, key)
        if key not in self.keys:  # the destination dedupes a key it has seen (as the HTTP ones do)
            self.sent += [(key, c.customer_id, c.operation) for c in changes]
        self.keys.append(key)
        if self.crash_after_sends is not None:
            self.crash_after_sends -= 1
            if self.crash_after_sends < 0:
                self.crash_after_sends = None
                raise KeyboardInterrupt("killed after the destination applied the batch")
        return [RecordResult(r.customer_id, False, self.reject[r.customer_id]) if r.customer_id in self.reject else r
                for r in results]


def members(n: int, **overrides) -> dict[str, dict]:
    out = {f"c{i:03d}": {"email": f"p{i}@mail.test", "segment": "champions"} for i in range(n)}
    for key, fields in overrides.items():
        out[key] = fields
    return out


def test_plan_by_mode() -> None:
    held = {"a": (payload_hash({"email": "a@x"}), {"email": "a@x"}),  # unchanged
            "b": (payload_hash({"email": "b@x"}), {"email": "b@x"}),  # its email changed
            "gone": (payload_hash({"email": "g@x"}), {"email": "g@x"})}  # left the audience
    desired = {"a": {"email": "a@x"}, "b": {"email": "b2@x"}, "new": {"email": "n@x"}, "nope": {"email": "no@x"}}
    ops = lambda mode: sorted((c.customer_id, c.operation, c.reason) for c in plan(desired, held, mode, blocked={"nope"}))  # noqa: E731
    assert ops("mirror") == [("b", "update", None), ("gone", "remove", "exited"), ("new", "add", None)]
    assert ops("upsert") == [("b", "update", None), ("new", "add", None)]
    assert ops("add_only") == [("new", "add", None)]
    # a member without consent the destination holds is removed whatever the mode
    assert ("a", "remove", "no_consent") in [(c.customer_id, c.operation, c.reason) for c in
                                             plan(desired, held, "add_only", blocked={"a"})]
    with pytest.raises(SyncError, match="unknown sync mode 'sometimes'"):
        plan(desired, held, "sometimes")


def test_desired_rows_are_checked() -> None:
    frame = pd.DataFrame({"customer_id": ["a", "b", "a"], "email": ["1", "2", "3"]})
    with pytest.raises(SyncError, match="more than once.*'a'"):
        desired_from_frame(frame, ["email"])
    with pytest.raises(SyncError, match="lack column.*phone"):
        desired_from_frame(frame.iloc[:2], ["email", "phone"])
    assert desired_from_frame(frame.iloc[:2], ["email"]) == {"a": {"email": "1"}, "b": {"email": "2"}}


def test_an_unchanged_audience_sends_nothing_and_changes_send_only_the_diff(warehouse, tmp_path: Path) -> None:
    destination = Recording(FileDestination("files", tmp_path / "out", batch_size=40))
    engine = SyncEngine(warehouse, destination)
    first = engine.sync("champions", members(100), mode="mirror", run_id="r1")
    assert (first.added, first.requests) == (100, 3)
    assert len(list((tmp_path / "out" / "champions").glob("*.upsert.csv"))) == 3

    again = engine.sync("champions", members(100), mode="mirror", run_id="r2")
    assert again.requests == 0 and again.unchanged == 100 and again.counts()["added"] == 0

    changed = members(101, c005={"email": "p5@new.test", "segment": "champions"})
    del changed["c007"]
    third = engine.sync("champions", changed, mode="mirror", run_id="r3")
    assert (third.added, third.updated, third.removed, third.unchanged) == (1, 1, 1, 98)
    assert sorted((c, op) for _, c, op in destination.sent[-3:]) == [("c005", "update"), ("c007", "remove"),
                                                                   ("c100", "add")]
    ledger = warehouse.query(f"select status, count(*) as n from {LEDGER} group by status")
    assert dict(zip(ledger["status"], ledger["n"])) == {"sent": 103}


def test_consent_revoked_removes_the_member(warehouse, tmp_path: Path) -> None:
    destination = Recording(FileDestination("files", tmp_path / "out"))
    engine = SyncEngine(warehouse, destination)
    engine.sync("a", members(3), mode="add_only", run_id="r1")
    report = engine.sync("a", members(3), mode="add_only", run_id="r2", blocked={"c001"})
    assert (report.removed, report.skipped_consent) == (1, 1)
    assert destination.sent[-1][1:] == ("c001", "remove")
    reason = warehouse.query(f"select reason from {LEDGER} where operation = 'remove'")["reason"].tolist()
    assert reason == ["no_consent"]
    # still blocked: nothing more to send
    assert engine.sync("a", members(3), mode="add_only", run_id="r3", blocked={"c001"}).requests == 0


def test_rejected_records_are_retried_until_dead(warehouse, tmp_path: Path) -> None:
    destination = Recording(FileDestination("files", tmp_path / "out"))
    destination.reject = {"c002": "invalid email"}
    engine = SyncEngine(warehouse, destination, max_attempts=3)
    reports = [engine.sync("a", members(4), mode="mirror", run_id=f"r{i}") for i in range(4)]
    assert [(r.added, r.failed, r.dead) for r in reports] == [(3, 1, 0), (0, 1, 0), (0, 0, 1), (0, 0, 1)]
    assert reports[3].requests == 0, "a dead record is not sent again"
    rows = warehouse.query(f"select attempt, status, error from {LEDGER} where customer_id = 'c002' order by attempt")
    assert rows.values.tolist() == [[1, "failed", "invalid email"], [2, "failed", "invalid email"],
                                    [3, "dead", "invalid email"]]
    # a changed payload is a new change: it is tried again (and the destination now takes it)
    destination.reject = {}
    retried = engine.sync("a", members(4, c002={"email": "fixed@mail.test", "segment": "champions"}),
                          mode="mirror", run_id="r5")
    assert (retried.added, retried.dead) == (1, 0)


def test_a_sync_killed_mid_way_resumes_without_sending_anything_twice(warehouse, tmp_path: Path) -> None:
    destination = Recording(FileDestination("files", tmp_path / "out", batch_size=10))
    engine = SyncEngine(warehouse, destination)
    destination.crash_after_sends = 2  # the third batch reaches the destination, then the process dies
    with pytest.raises(KeyboardInterrupt):
        engine.sync("a", members(50), mode="mirror", run_id="r1")
    assert len(warehouse.query(f"select * from {OUTBOX}")) == 1
    resumed = engine.sync("a", members(50), mode="mirror", run_id="r2")
    assert resumed.recovered_batches == 1
    sent = [(c, op) for _, c, op in destination.sent]
    assert len(sent) == len(set(sent)) == 50, "every member reached the destination exactly once"
    assert destination.keys.count(destination.keys[2]) == 2, "the interrupted batch was resent under its own key"
    assert len(warehouse.query(f"select * from {OUTBOX}")) == 0
    statuses = warehouse.query(f"select status, count(*) as n from {LEDGER} group by status")
    assert dict(zip(statuses["status"], statuses["n"])) == {"sent": 50}
    assert engine.sync("a", members(50), mode="mirror", run_id="r3").requests == 0


def test_a_dry_run_plans_and_sends_nothing(warehouse, tmp_path: Path) -> None:
    destination = Recording(FileDestination("files", tmp_path / "out"))
    engine = SyncEngine(warehouse, destination)
    engine.sync("a", members(5), mode="mirror", run_id="r1")
    changed = members(6)
    del changed["c000"]
    report = engine.sync("a", changed, mode="mirror", run_id="r2", dry_run=True)
    assert (report.added, report.removed, report.requests) == (1, 1, 0)
    assert sorted(c.operation for c in report.plan) == ["add", "remove"]
    assert len(destination.sent) == 5
