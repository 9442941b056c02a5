"""Audit events of governed changes: merges and splits, consent changes, configuration files, quarantine
releases, activation batches; each once, with nothing personal in the log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from activations.engine import Change, RecordResult, SyncEngine
from activations.governance import audit
from activations.governance.audit import Event, hash_identifier
from activations.governance.events import (
    CONSENT_STATE,
    audit_config_files,
    audit_consent_changes,
    audit_identity_events,
    release_quarantine,
)
from expectations import quarantine
from expectations.warehouse import DuckDBWarehouse, PostgresWarehouse
from tests.postgres_server import postgres_bin_dir, running_postgres

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PERSONAL = ("ana@example.com", "+15555550100", "Ana", "Lopez")


@pytest.fixture
def warehouse(tmp_path: Path):
    with DuckDBWarehouse(tmp_path / "wh.duckdb") as warehouse:
        yield warehouse


def details(warehouse, action: str) -> list[dict]:
    return [json.loads(text) for text in audit.read(warehouse, action=action)["detail"]]


def assert_nothing_personal(warehouse, *raw_ids: str) -> None:
    """No raw customer id and none of the personal values in any subject or detail of the log."""
    log = audit.read(warehouse)
    text = " ".join([*log["detail"], *(s or "" for s in log["subject_id"])])
    for value in (*raw_ids, *PERSONAL):
        assert value not in text, value


# -- merges and splits ----------------------------------------------------------------------


def _merge_history(warehouse, rows: list[tuple]) -> None:
    warehouse.execute("create schema if not exists identity")
    warehouse.execute("""create table if not exists identity.identity_merge_history (
        event_id varchar, event_type varchar, old_customer_id varchar, new_customer_id varchar, reason varchar,
        evidence varchar, evidence_links bigint, occurred_at timestamp with time zone, run_id varchar)""")
    for event_id, kind, old, new, at in rows:
        warehouse.execute("insert into identity.identity_merge_history values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (event_id, kind, old, new, f"why {kind}", "email:ana@example.com ~ phone:+15555550100",
                           2, at, "dbt-invocation-1"))


def test_each_merge_and_split_is_audited_once_under_hashed_customer_ids(warehouse) -> None:
    assert audit_identity_events(warehouse, now=NOW) == {}  # the history is not built yet
    _merge_history(warehouse, [("e1", "merge", "cust-a", "cust-b", NOW - timedelta(hours=2)),
                               ("e2", "split", "cust-b", "cust-c", NOW - timedelta(hours=1))])

    assert audit_identity_events(warehouse, run_id="run-1", now=NOW) == {"identity.merge": 1, "identity.split": 1}
    assert audit_identity_events(warehouse, run_id="run-2", now=NOW) == {}  # once each
    log = audit.read(warehouse)
    assert list(log["action"]) == ["identity.merge", "identity.split"]
    assert list(log["subject_type"]) == ["customer", "customer"]
    assert list(log["subject_id"]) == [hash_identifier("cust-a"), hash_identifier("cust-b")]
    merge = json.loads(log["detail"].iloc[0])
    assert merge == {"merge_history_event_id": "e1", "old_customer": hash_identifier("cust-a"),
                     "new_customer": hash_identifier("cust-b"), "reason": "why merge", "evidence_links": 2,
                     "identity_run_id": "dbt-invocation-1",
                     "occurred_at": (NOW - timedelta(hours=2)).isoformat()}
    # a known id is found by hashing it
    assert list(audit.read(warehouse, subject_id=hash_identifier("cust-b"))["action"]) == ["identity.split"]

    _merge_history(warehouse, [("e3", "merge", "cust-c", "cust-b", NOW)])
    assert audit_identity_events(warehouse, run_id="run-3", now=NOW) == {"identity.merge": 1}
    assert len(audit.read(warehouse)) == 3
    assert_nothing_personal(warehouse, "cust-a", "cust-b", "cust-c")


def test_an_unknown_merge_history_event_type_is_named_and_nothing_is_recorded(warehouse) -> None:
    _merge_history(warehouse, [("e1", "merge", "a", "b", NOW), ("e2", "unmerge", "b", "c", NOW)])
    with pytest.raises(ValueError, match="event e2: unknown event_type 'unmerge'"):
        audit_identity_events(warehouse, now=NOW)
    assert audit.read(warehouse).empty


# -- consent --------------------------------------------------------------------------------


def _consent(warehouse, rows: list[tuple]) -> None:
    warehouse.execute("create schema if not exists profiles")
    frame = pd.DataFrame(rows, columns=["customer_id", "channel", "status", "signal_source", "signal_type"])
    frame["consent_key"] = frame["customer_id"] + ":" + frame["channel"]
    warehouse.execute("drop table if exists profiles.customer_consent")
    warehouse.con.register("_consent_rows", frame)
    warehouse.execute("create table profiles.customer_consent as select * from _consent_rows")
    warehouse.con.unregister("_consent_rows")


def test_a_consent_change_between_runs_is_audited_with_channel_statuses_and_signal(warehouse) -> None:
    assert not audit_consent_changes(warehouse, now=NOW).built  # customer_consent not built: nothing
    _consent(warehouse, [
        ("cust-1", "email", "granted", "email/email_events", "opt_in"),
        ("cust-1", "ads", "unknown", None, None),
        ("cust-2", "email", "denied", "crm/contacts", "opt_out"),
        ("cust-2", "ads", "granted", "events/events", "opt_in"),
    ])
    first = audit_consent_changes(warehouse, run_id="run-1", now=NOW)
    # first sight: a change from never audited (null) for every status but unknown
    assert (first.customers, first.changes) == (2, 3)
    assert sorted((d["channel"], d["from_status"], d["to_status"]) for d in details(warehouse, "consent.change")) == [
        ("ads", None, "granted"), ("email", None, "denied"), ("email", None, "granted")]
    assert audit_consent_changes(warehouse, run_id="run-2", now=NOW).changes == 0  # nothing changed

    _consent(warehouse, [
        ("cust-1", "email", "blocked", "email/email_events", "hard_bounce"),  # a hard bounce
        ("cust-1", "ads", "denied", "events/events", "opt_out"),  # unknown -> denied
        ("cust-2", "email", "denied", "crm/contacts", "opt_out"),
        ("cust-2", "ads", "granted", "events/events", "opt_in"),
        ("cust-3", "email", "unknown", None, None),  # new, no signal: nothing to say
    ])
    second = audit_consent_changes(warehouse, run_id="run-3", now=NOW + timedelta(hours=1))
    assert second.changes == 2
    assert second.table() == [("ads", "unknown", "denied", 1), ("email", "granted", "blocked", 1)]
    log = audit.read(warehouse, action="consent.change", since=NOW + timedelta(minutes=1))
    assert list(log["subject_id"]) == [hash_identifier("cust-1")] * 2
    assert set(log["run_id"]) == {"run-3"}
    assert sorted(json.loads(text)["to_status"] for text in log["detail"]) == ["blocked", "denied"]
    assert {"channel": "email", "from_status": "granted", "to_status": "blocked",
            "signal_source": "email/email_events", "signal_type": "hard_bounce"} in [
        json.loads(text) for text in log["detail"]]
    # the state kept names nobody: hashed ids only
    state = warehouse.query(f"select subject_id, channel, status from {CONSENT_STATE} order by subject_id, channel")
    assert set(state["subject_id"]) == {hash_identifier(c) for c in ("cust-1", "cust-2", "cust-3")}
    assert_nothing_personal(warehouse, "cust-1", "cust-2", "cust-3")


def test_an_unknown_consent_status_is_named(warehouse) -> None:
    _consent(warehouse, [("c1", "email", "maybe", None, None)])
    with pytest.raises(ValueError, match=r"unknown status\(es\) \['maybe'\]"):
        audit_consent_changes(warehouse, now=NOW)
    assert audit.read(warehouse).empty


# -- configuration files ------------------------------------------------------------------


def test_a_config_file_is_audited_when_first_seen_and_when_its_content_changes(warehouse, tmp_path: Path) -> None:
    retention = tmp_path / "retention.yml"
    retention.write_text("retention:\n  events/events: {keep_days: 395}\n  email/email_events: {keep_days: 730}\n")
    crm = tmp_path / "crm_sync.yml"
    crm.write_text("crm_sync:\n  batch_size: 100\n  fields: {email: platform}\n")
    files = {"retention": retention, "crm_sync": crm}

    first = audit_config_files(warehouse, files, run_id="run-1", now=NOW)
    assert [(c.name, c.old_hash, c.changed_keys) for c in first] == [("crm_sync", None, ("crm_sync",)),
                                                                     ("retention", None, ("retention",))]
    assert audit_config_files(warehouse, files, now=NOW) == []  # unchanged

    retention.write_text("retention:\n  events/events: {keep_days: 30}\n  email/email_events: {keep_days: 730}\n"
                         "comment_free: true\n")
    crm.write_text("crm_sync:\n  fields: {email: platform}\n  batch_size: 100\n")  # same settings, new bytes
    second = audit_config_files(warehouse, files, run_id="run-2", now=NOW + timedelta(hours=1))
    assert [c.name for c in second] == ["crm_sync", "retention"]
    crm_change, retention_change = second
    assert (crm_change.changed_keys, crm_change.changed_paths) == ((), ())
    assert retention_change.changed_keys == ("comment_free", "retention")
    assert retention_change.changed_paths == ("retention.events/events",)
    assert retention_change.old_hash == first[1].new_hash != retention_change.new_hash
    events = details(warehouse, "config.change")
    assert len(events) == 4
    assert events[-1] == {"file": "retention", "path": str(retention), "old_hash": first[1].new_hash,
                          "new_hash": retention_change.new_hash, "changed_keys": ["comment_free", "retention"],
                          "changed_paths": ["retention.events/events"]}
    assert list(audit.read(warehouse, action="config.change")["subject_type"]) == ["config_file"] * 4


def test_a_missing_or_broken_config_file_is_named_and_nothing_is_recorded(warehouse, tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("a: 1\n")
    with pytest.raises(ValueError, match="governed configuration file 'gone' not found"):
        audit_config_files(warehouse, {"good": good, "gone": tmp_path / "gone.yml"}, now=NOW)
    broken = tmp_path / "broken.yml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match="'broken' .* is not valid YAML"):
        audit_config_files(warehouse, {"good": good, "broken": broken}, now=NOW)
    listed = tmp_path / "list.yml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must hold a mapping at the top, got list"):
        audit_config_files(warehouse, {"list": listed}, now=NOW)
    assert audit.read(warehouse).empty


# -- quarantine release ---------------------------------------------------------------------


def _quarantine(warehouse) -> None:
    quarantine.ensure_tables(warehouse)
    rows = [("crm", "contacts", "k1", "r1", "bad_email", "ana@example.com"),
            ("crm", "contacts", "k2", "r2", "bad_email", "bo@example.com"),
            ("crm", "contacts", "k2", "r2", "bad_phone", "+15555550100"),
            ("events", "events", "m1", "r3", "no_user", None)]
    frame = pd.DataFrame([{"source": s, "table_name": t, "row_key": k, "row_id": r, "load_id": "L1",
                           "expectation": f"expect_{reason}", "reason": reason, "severity": "critical",
                           "column_name": "x", "offending_value": value} for s, t, k, r, reason, value in rows])
    quarantine.record_failures(warehouse, frame, NOW)


def test_a_quarantine_release_is_audited_with_who_the_note_and_counts_in_one_transaction(warehouse) -> None:
    _quarantine(warehouse)
    selection = quarantine.Selection(source="crm")
    report = release_quarantine(warehouse, selection, by="ana", note="phone rule fixed", actor="cli:ana",
                                now=NOW)
    assert (report.entries, report.rows) == (3, 3)
    (detail,) = details(warehouse, "quarantine.release")
    assert detail["released_by"] == "ana" and detail["note"] == "phone rule fixed"
    assert (detail["rows"], detail["entries"]) == (3, 3)
    assert detail["by_source_table_reason"] == [
        {"source": "crm", "table": "contacts", "reason": "bad_email", "rows": 2, "entries": 2},
        {"source": "crm", "table": "contacts", "reason": "bad_phone", "rows": 1, "entries": 1}]
    assert detail["selection"]["source"] == "crm"
    assert audit.read(warehouse)["actor"].tolist() == ["cli:ana"]
    # nothing left to release: nothing released, no event
    assert release_quarantine(warehouse, selection, by="ana", note="again", actor="cli:ana", now=NOW).entries == 0
    assert len(audit.read(warehouse)) == 1
    assert_nothing_personal(warehouse)


def test_a_release_whose_note_holds_personal_data_releases_nothing(warehouse) -> None:
    _quarantine(warehouse)
    with pytest.raises(ValueError, match="no personal data"):
        release_quarantine(warehouse, quarantine.Selection(source="events"), by="ana",
                           note="asked by ana@example.com", actor="cli:ana", now=NOW)
    assert audit.read(warehouse).empty
    left = quarantine.summary(warehouse, quarantine.Selection(source="events"))
    assert int(left["entries"].sum()) == 1  # still quarantined
    with pytest.raises(ValueError, match="needs a note"):
        release_quarantine(warehouse, quarantine.Selection(source="events"), by="ana", note=" ", actor="cli:ana")



def test_a_release_that_fails_leaves_neither_its_event_nor_a_released_entry(warehouse, monkeypatch) -> None:
    _quarantine(warehouse)

    def fail(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the release breaks after the event is written
        raise RuntimeError("disk full")

    monkeypatch.setattr(quarantine, "release", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        release_quarantine(warehouse, quarantine.Selection(source="crm"), by="ana", note="phone rule fixed",
                           actor="cli:ana", now=NOW)
    assert audit.read(warehouse).empty
    assert int(quarantine.summary(warehouse, quarantine.Selection(source="crm"))["entries"].sum()) == 3


# -- activation batches -------------------------------------------------------------------


class Destination:
    name = "email_platform"
    batch_size = 2

    def __init__(self) -> None:
        self.reject: set[str] = set()
        self.down = False

    def send(self, audience: str, operation: str, changes: Sequence[Change], key: str) -> list[RecordResult]:
        if self.down:
            raise ConnectionError("503 from https://esp.test for ana@example.com")
        return [RecordResult(c.customer_id, c.customer_id not in self.reject, "refused" if c.customer_id in
                             self.reject else None) for c in changes]


def test_every_activation_batch_sent_is_audited_with_its_counts(warehouse) -> None:
    destination = Destination()
    destination.reject = {"cust-3"}
    engine = SyncEngine(warehouse, destination, max_attempts=2, now=lambda: NOW)
    desired = {f"cust-{i}": {"email": f"p{i}@example.com"} for i in range(1, 4)}
    report = engine.sync("vips", desired, mode="mirror", run_id="run-1")
    assert (report.added, report.failed) == (2, 1)
    batches = details(warehouse, "activation.batch")
    ledger = warehouse.query("select batch_id, count(*) as n from activation.activation_ledger group by batch_id")
    assert sorted(b["batch_id"] for b in batches) == sorted(ledger["batch_id"])  # one event per batch sent
    assert [(b["operation"], b["records"], b["succeeded"], b["failed"], b["dead"], b["status"]) for b in batches] == [
        ("upsert", 2, 2, 0, 0, "sent"), ("upsert", 1, 0, 1, 0, "sent")]
    assert batches[0]["destination"] == "email_platform" and batches[0]["audience"] == "vips"
    assert batches[0]["operations"] == {"add": 2} and batches[0]["sync_run_id"] == "run-1"
    log = audit.read(warehouse, action="activation.batch")
    assert set(log["subject_id"]) == {"email_platform"} and set(log["run_id"]) == {"run-1"}

    # a batch that fails as a whole is audited as an error (the exception's type, not its text)
    destination.reject, destination.down = set(), True
    with pytest.raises(ConnectionError):
        engine.sync("vips", {**desired, "cust-4": {"email": "p4@example.com"}}, mode="mirror", run_id="run-2")
    error = details(warehouse, "activation.batch")[-1]
    assert (error["status"], error["error"], error["records"], error["succeeded"]) == ("error", "ConnectionError",
                                                                                         2, 0)
    # the outbox batch sent again by the next sync is audited as recovered, under the actor given
    destination.down = False
    SyncEngine(warehouse, destination, max_attempts=2, now=lambda: NOW, actor="cli:ana").sync(
        "vips", {**desired, "cust-4": {"email": "p4@example.com"}}, mode="mirror", run_id="run-3")
    last = audit.read(warehouse, action="activation.batch")
    recovered = [json.loads(d) for d in last["detail"] if json.loads(d)["recovered"]]
    assert len(recovered) == 1 and recovered[0]["batch_id"] == error["batch_id"] and recovered[0]["succeeded"] == 2
    assert last["actor"].iloc[-1] == "cli:ana"
    assert_nothing_personal(warehouse, "cust-1", "cust-2", "cust-3", "cust-4", "p1@example.com", "p4@example.com")


def test_a_batch_is_not_applied_without_its_audit_event(warehouse, monkeypatch) -> None:
    """The event is written in the batch's transaction: if it cannot be, the batch stays in the outbox."""
    destination = Destination()
    engine = SyncEngine(warehouse, destination, now=lambda: NOW)

    def refuse(*args, **kwargs):
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(audit, "record", refuse)
    with pytest.raises(RuntimeError, match="unavailable"):
        engine.sync("vips", {"c1": {"email": "a"}}, mode="upsert", run_id="run-1")
    assert warehouse.query("select count(*) as n from activation.outbox")["n"].iloc[0] == 1
    assert warehouse.query("select count(*) as n from activation.destination_state")["n"].iloc[0] == 0


# -- many events at once, and PostgreSQL ------------------------------------------------------


def test_record_many_keeps_the_order_and_refuses_a_bad_event_before_writing(warehouse) -> None:
    audit.ensure_tables(warehouse)
    audit.record(warehouse, "retention.purge", subject_type="table", subject_id="t", detail={}, actor="system")
    events = [Event("consent.change", "customer", hash_identifier(f"c{n}"), {"n": n}) for n in range(300)]
    events[7] = Event("config.change", "config_file", None, {"file": "x"})
    ids = audit.record_many(warehouse, events, actor="system", run_id="r", now=NOW)
    log = audit.read(warehouse)
    assert list(log["event_id"])[1:] == ids
    assert [json.loads(d).get("n") for d in log["detail"]][1:] == [None if n == 7 else n for n in range(300)]
    assert log["subject_id"].iloc[8] is None and log["seq"].is_monotonic_increasing
    with pytest.raises(ValueError, match=r"audit event 1 \('consent.change'\): detail must hold no personal data"):
        audit.record_many(warehouse, [events[0], Event("consent.change", "customer", "x", {"e": "ana@example.com"})],
                          actor="system", now=NOW)
    with pytest.raises(ValueError, match="dotted lower-case"):
        audit.record_many(warehouse, [Event("Consent", "customer", "x", {})], actor="system", now=NOW)
    assert len(audit.read(warehouse)) == 301
    assert audit.record_many(warehouse, [], actor="system") == []


def test_the_audits_run_on_postgresql() -> None:
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL is not installed")
    with running_postgres() as server, PostgresWarehouse(server.url) as warehouse:
        _merge_history(warehouse, [("e1", "merge", "cust-a", "cust-b", NOW)])
        assert audit_identity_events(warehouse, now=NOW) == {"identity.merge": 1}
        assert audit_identity_events(warehouse, now=NOW) == {}
        warehouse.execute("create schema profiles")
        warehouse.execute("create table profiles.customer_consent (customer_id varchar, channel varchar,"
                          " status varchar, signal_source varchar, signal_type varchar)")
        warehouse.execute("insert into profiles.customer_consent values"
                          " ('c1', 'email', 'granted', 'lists/list_members', 'opt_in'),"
                          " ('c2', 'email', 'unknown', null, null)")
        assert audit_consent_changes(warehouse, now=NOW).changes == 1
        warehouse.execute("update profiles.customer_consent set status = 'denied' where customer_id = 'c1'")
        assert audit_consent_changes(warehouse, now=NOW).table() == [("email", "granted", "denied", 1)]
        _quarantine(warehouse)
        assert release_quarantine(warehouse, quarantine.Selection(source="crm"), by="ana", note="fixed",
                                  actor="cli:ana", now=NOW).entries == 3
        events = [Event("config.change", "config_file", None if n % 2 else f"f{n}", {"n": n}) for n in range(50)]
        audit.record_many(warehouse, events, actor="system", now=NOW)
        log = audit.read(warehouse)
        assert list(log["action"][:4]) == ["identity.merge", "consent.change", "consent.change", "quarantine.release"]
        tail = log.iloc[4:]
        assert [json.loads(d)["n"] for d in tail["detail"]] == list(range(50))
        assert [s is None for s in tail["subject_id"]] == [bool(n % 2) for n in range(50)]
        SyncEngine(warehouse, Destination(), now=lambda: NOW).sync("vips", {"c1": {"email": "a"}}, mode="upsert",
                                                                   run_id="run-pg")
        assert len(audit.read(warehouse, action="activation.batch")) == 1
