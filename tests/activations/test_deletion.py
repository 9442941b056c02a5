"""Privacy requests on a small warehouse: a deletion's steps, retried until done; suppression."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from activations.engine import Change, RecordResult, SyncEngine
from activations.governance import audit, tombstones
from activations.governance.deletion import (
    Executors,
    PrivacyRequestError,
    REQUESTS,
    STEPS,
    pending,
    request_deletion,
    request_suppression,
)
from activations.governance.people import UnknownIdentifierError, resolve
from activations.governance.sweep import find_traces
from activations.runner import permitted
from expectations.warehouse import connect
from orchestration.privacy import run_requests

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
ANA = ("cus_ana", "ana@example.com", "+14155550134", "u_ana")
BOB = ("cus_bob", "bob@example.com", "+14155550199", "u_bob")


class Inbox:
    """A destination that keeps what it holds in memory and can be down."""

    name = "inbox"
    batch_size = 100

    def __init__(self) -> None:
        self.held: dict[str, dict] = {}
        self.down = False
        self.reasons: list[str | None] = []

    def send(self, audience: str, operation: str, changes: list[Change], idempotency_key: str) -> list[RecordResult]:
        if self.down:
            raise RuntimeError("503 Service Unavailable")
        for change in changes:
            self.reasons.append(change.reason)
            if operation == "remove":
                self.held.pop(change.customer_id, None)
            else:
                self.held[change.customer_id] = dict(change.fields)
        return [RecordResult(change.customer_id, True) for change in changes]


def _build(path: Path) -> None:
    with connect("duckdb", duckdb_path=path) as w:
        _build_into(w)


def _build_into(w) -> None:  # noqa: ANN001 - a DuckDB or PostgreSQL warehouse
    for schema in ("identity", "profiles", "raw_email"):
        w.execute(f"create schema {schema}")
    w.execute("create table identity.identity_customers (customer_id varchar, status varchar)")
    w.execute("create table identity.customer_id_lookup (customer_id varchar, current_customer_id varchar,"
              " merge_hops integer)")
    w.execute("create table identity.customer_identifiers (identifier_key varchar, identifier_type varchar,"
              " identifier_value varchar, customer_id varchar)")
    w.execute("create table identity.customer_records (record_ref varchar, source_name varchar,"
              " table_name varchar, record_key varchar, customer_id varchar)")
    w.execute("create table profiles.customer_profiles (customer_id varchar, email varchar, phone varchar)")
    w.execute("create table profiles.customer_consent (customer_id varchar, channel varchar, granted boolean)")
    w.execute("create table raw_email.email_events (event_id varchar, email varchar, phone varchar, kind varchar)")
    for customer_id, email, phone, user_id in (ANA, BOB):
        w.execute("insert into identity.identity_customers values (?, 'active')", (customer_id,))
        w.execute("insert into identity.customer_id_lookup values (?, ?, 0)", (customer_id, customer_id))
        for kind, value in (("email", email), ("phone", phone), ("user_id", user_id)):
            w.execute("insert into identity.customer_identifiers values (?, ?, ?, ?)",
                      (f"{kind}:{value}", kind, value, customer_id))
        key = f"ev_{customer_id}"
        w.execute("insert into identity.customer_records values (?, 'email', 'email_events', ?, ?)",
                  (f"email/email_events/{key}", key, customer_id))
        w.execute("insert into profiles.customer_profiles values (?, ?, ?)", (customer_id, email, phone))
        w.execute("insert into profiles.customer_consent values (?, 'email', true)", (customer_id,))
        # raw as delivered: mixed case, a national phone format
        w.execute("insert into raw_email.email_events values (?, ?, ?, 'open')",
                  (key, f" {email.upper()} ", f"(415) 555-{phone[-4:]}"))
    # a merged-away id of Ana's
    w.execute("insert into identity.customer_id_lookup values ('cus_ana_old', 'cus_ana', 1)")


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    path = tmp_path / "cdp.duckdb"
    _build(path)
    return path


def _hold(path: Path, inbox: Inbox) -> None:
    with connect("duckdb", duckdb_path=path) as w:
        _hold_in(w, inbox)


def _hold_in(w, inbox: Inbox) -> None:  # noqa: ANN001 - a DuckDB or PostgreSQL warehouse
    SyncEngine(w, inbox, now=lambda: NOW).sync("fans", {c[0]: {"email": c[1]} for c in (ANA, BOB)},
                                               mode="upsert", run_id="r1")
    assert set(inbox.held) == {"cus_ana", "cus_bob"}


def test_any_identifier_names_the_person_and_unknown_ones_are_errors(warehouse_path: Path) -> None:
    with connect("duckdb", duckdb_path=warehouse_path) as w:
        for given in ("email: Ana@Example.COM ", "phone:(415) 555-0134", "user_id:u_ana", "customer_id:cus_ana_old"):
            person = resolve(w, given)
            assert person.customer_id == "cus_ana"
            assert person.customer_ids == ("cus_ana", "cus_ana_old")
        with pytest.raises(UnknownIdentifierError, match="no person has the email"):
            resolve(w, "email:nobody@example.com")


def test_a_dry_run_says_what_would_go_and_changes_nothing(warehouse_path: Path) -> None:
    inbox = Inbox()
    _hold(warehouse_path, inbox)
    with connect("duckdb", duckdb_path=warehouse_path) as w:
        plan = request_deletion(w, resolve(w, "email:ana@example.com"), identifier_type="email", actor="test",
                                now=NOW, dry_run=True)
        assert plan.request_id is None
        assert plan.destinations == [("inbox", "fans")]
        assert plan.rows["raw_email.email_events"] == 1  # found as delivered: upper case, national phone
        assert plan.rows["identity.customer_identifiers"] == 3
        assert tombstones.hashes(w) == set()
        assert not w.table_exists("governance", "privacy_requests") or w.query(f"select * from {REQUESTS}").empty
        assert find_traces(w, ["ana@example.com"])


def test_a_deletion_retries_a_failed_destination_until_done_and_leaves_nothing(warehouse_path: Path) -> None:
    inbox = Inbox()
    _hold(warehouse_path, inbox)
    with connect("duckdb", duckdb_path=warehouse_path) as w:
        plan = request_deletion(w, resolve(w, "phone:+1 415 555 0134"), identifier_type="phone", actor="cli:dpo",
                                now=NOW)
        assert len(tombstones.hashes(w)) == 4  # three identifiers and one record
    executors = Executors(destination=lambda name: inbox, crm=None)

    def open_warehouse():  # noqa: ANN202
        return connect("duckdb", duckdb_path=warehouse_path)

    inbox.down = True
    first = run_requests(open_warehouse, executors, target="duckdb", warehouse_path=warehouse_path, actor="test")
    by_step = {o.step: o for o in first.outcomes}
    assert by_step["destination"].status == "failed" and "503" in by_step["destination"].error
    assert by_step["warehouse"].status == "done" and by_step["warehouse"].rows > 0
    assert "activation" not in by_step  # waits: the destination state says what the inbox holds
    assert first.compacted == [] and first.still_open == 3  # destination, activation, compact
    with open_warehouse() as w:
        assert set(pending(w)["step"]) == {"destination", "activation", "compact"}
        assert w.query(f"select status from {REQUESTS}").iloc[0, 0] == "pending"
        assert find_traces(w, ["ana@example.com", "u_ana"], exclude=["activation"]) == {}

    inbox.down = False
    second = run_requests(open_warehouse, executors, target="duckdb", warehouse_path=warehouse_path, actor="test")
    assert {o.step: o.status for o in second.outcomes} == {"destination": "done", "activation": "done"}
    assert second.compacted == [plan.request_id] and second.still_open == 0
    assert set(inbox.held) == {"cus_bob"} and inbox.reasons[-1] == "erased"
    with open_warehouse() as w:
        assert w.query(f"select status from {REQUESTS}").iloc[0, 0] == "done"
        assert set(w.query(f"select status from {STEPS}")["status"]) == {"done"}
        assert find_traces(w, ["ana@example.com", "cus_ana", "u_ana", "5550134"]) == {}
        assert find_traces(w, ["bob@example.com"])  # Bob is untouched
        actions = [a for a in audit.read(w)["action"] if a.startswith("privacy.")]
        assert actions.count("privacy.deletion_step_failed") == 1
        assert actions[0] == "privacy.deletion_requested" and actions[-1] == "privacy.deletion_completed"
        assert "ana@example.com" not in " ".join(audit.read(w)["detail"])
    assert b"ana@example.com" not in warehouse_path.read_bytes().lower()


def test_suppression_keeps_the_data_and_stops_activation(warehouse_path: Path) -> None:
    with connect("duckdb", duckdb_path=warehouse_path) as w:
        assert permitted(w, "email", ["cus_ana", "cus_bob"]) == {"cus_ana", "cus_bob"}
        dry = request_suppression(w, resolve(w, "user_id:u_ana"), identifier_type="user_id", actor="test", now=NOW,
                                  reason="asked", dry_run=True)
        assert dry.request_id is None and permitted(w, "email", ["cus_ana"]) == {"cus_ana"}
        request_suppression(w, resolve(w, "user_id:u_ana"), identifier_type="user_id", actor="test", now=NOW,
                            reason="asked by email")
        assert permitted(w, "email", ["cus_ana", "cus_bob"]) == {"cus_bob"}
        assert find_traces(w, ["ana@example.com"])  # kept
        with pytest.raises(PrivacyRequestError, match="suppressed already"):
            request_suppression(w, resolve(w, "cus_ana"), identifier_type="customer_id", actor="test", now=NOW,
                                reason="again")
        assert list(audit.read(w)["action"]) == ["privacy.suppression"]


def test_the_cli_names_an_unknown_identifier_and_a_dry_run_deletes_nothing(warehouse_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from orchestration.cli import main

    monkeypatch.setenv("CDP_HOME", str(warehouse_path.parent))
    monkeypatch.setenv("CDP_WAREHOUSE_PATH", str(warehouse_path))
    runner = CliRunner()
    unknown = runner.invoke(main, ["privacy", "delete", "email:nobody@example.com"])
    assert unknown.exit_code == 2 and "no person has the email given" in unknown.output
    vague = runner.invoke(main, ["privacy", "suppress", "ana", "--reason", "x"])
    assert vague.exit_code == 2 and "say what 'ana' is" in vague.output
    dry = runner.invoke(main, ["privacy", "delete", "email:ana@example.com", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete cus_ana" in dry.output and "raw_email.email_events" in dry.output
    with connect("duckdb", duckdb_path=warehouse_path) as w:
        assert find_traces(w, ["ana@example.com"])
        assert tombstones.hashes(w) == set()


def test_the_audit_command_finds_a_persons_events_by_their_customer_id(warehouse_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from orchestration.cli import main

    with connect("duckdb", duckdb_path=warehouse_path) as w:
        request_suppression(w, resolve(w, "cus_ana"), identifier_type="customer_id", actor="cli:dpo", now=NOW,
                            reason="asked")
    monkeypatch.setenv("CDP_HOME", str(warehouse_path.parent))
    monkeypatch.setenv("CDP_WAREHOUSE_PATH", str(warehouse_path))
    runner = CliRunner()
    found = runner.invoke(main, ["audit", "--customer", "cus_ana"])
    assert found.exit_code == 0, found.output
    assert "privacy.suppression" in found.output and "cli:dpo" in found.output and "cus_ana" not in found.output
    assert "no audit events match" in runner.invoke(main, ["audit", "--customer", "cus_bob"]).output
    unknown = runner.invoke(main, ["audit", "--action", "privacy.nothing"])
    assert unknown.exit_code == 2 and "actions: privacy.suppression" in unknown.output


def test_a_deletion_on_postgresql_leaves_nothing_and_needs_no_file_rewrite() -> None:
    from expectations.warehouse import PostgresWarehouse
    from tests.postgres_server import postgres_bin_dir, running_postgres

    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL is not installed")
    inbox = Inbox()
    with running_postgres() as server:
        with PostgresWarehouse(server.url) as w:
            _build_into(w)
            _hold_in(w, inbox)
            plan = request_deletion(w, resolve(w, "email:ana@example.com"), identifier_type="email", actor="test",
                                    now=NOW)
            assert plan.rows["raw_email.email_events"] == 1
        result = run_requests(lambda: PostgresWarehouse(server.url),
                              Executors(destination=lambda name: inbox, crm=None), target="postgres",
                              warehouse_path=None, actor="test")
        assert {o.status for o in result.outcomes} == {"done"} and result.still_open == 0
        assert set(inbox.held) == {"cus_bob"}
        with PostgresWarehouse(server.url) as w:
            assert w.query(f"select status from {REQUESTS}").iloc[0, 0] == "done"
            assert "compact" not in set(w.query(f"select step from {STEPS}")["step"])
            assert find_traces(w, ["ana@example.com", "cus_ana", "u_ana", "555-0134"]) == {}
            assert find_traces(w, ["bob@example.com"])
