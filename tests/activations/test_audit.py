"""The append-only audit log: order and content kept, filters, no way to change a record, no personal data."""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from activations.governance import audit
from expectations.warehouse import DuckDBWarehouse

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def warehouse(tmp_path: Path):
    with DuckDBWarehouse(tmp_path / "wh.duckdb") as warehouse:
        audit.ensure_tables(warehouse)
        audit.ensure_tables(warehouse)  # idempotent
        yield warehouse


def test_records_keep_their_order_and_content(warehouse) -> None:
    written = [
        ("retention.purge", "table", "raw_events.events", {"table": "raw_events.events", "rows": 12, "cutoff": "x"}),
        ("config.change", "file", None, {"file": "activations/retention.yml", "tables": ["events/events"]}),
        ("retention.purge", "table", "raw_email.email_events", {"table": "raw_email.email_events", "rows": 0}),
    ]
    # the same instant for all three: the order is the order they were written in, not a timestamp's
    ids = [audit.record(warehouse, action, subject_type=kind, subject_id=subject, detail=detail, actor="system",
                        run_id="run-1" if n != 1 else None, now=NOW)
           for n, (action, kind, subject, detail) in enumerate(written)]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f-]{36}", event_id) for event_id in ids)

    frame = audit.read(warehouse)
    assert list(frame["event_id"]) == ids
    assert list(frame["action"]) == ["retention.purge", "config.change", "retention.purge"]
    assert list(frame["subject_type"]) == ["table", "file", "table"]
    assert list(frame["subject_id"]) == [
        "raw_events.events", None, "raw_email.email_events"]
    assert list(frame["detail"]) == [
        '{"cutoff": "x", "rows": 12, "table": "raw_events.events"}',
        '{"file": "activations/retention.yml", "tables": ["events/events"]}',
        '{"rows": 0, "table": "raw_email.email_events"}',
    ]
    assert list(frame["actor"]) == ["system"] * 3
    assert list(frame["run_id"]) == ["run-1", None, "run-1"]
    assert {value.to_pydatetime() for value in frame["occurred_at"]} == {NOW}
    # a later read sees the same rows unchanged
    assert audit.read(warehouse).equals(frame)


def test_read_filters_by_action_subject_and_time_and_keeps_the_newest(warehouse) -> None:
    for hour in range(6):
        audit.record(warehouse, "retention.purge" if hour % 2 == 0 else "config.change", subject_type="table",
                     subject_id=f"t{hour}", detail={"hour": hour}, actor="cli:ana", now=NOW + timedelta(hours=hour))
    assert list(audit.read(warehouse, action="retention.purge")["subject_id"]) == ["t0", "t2", "t4"]
    assert list(audit.read(warehouse, subject_id="t3")["action"]) == ["config.change"]
    assert list(audit.read(warehouse, since=NOW + timedelta(hours=4))["subject_id"]) == ["t4", "t5"]
    # the newest `limit` events, oldest first
    assert list(audit.read(warehouse, limit=2)["subject_id"]) == ["t4", "t5"]
    assert list(audit.read(warehouse, action="retention.purge", limit=2)["subject_id"]) == ["t2", "t4"]
    assert audit.counts_by_action(warehouse, since=NOW + timedelta(hours=3)) == {"config.change": 2,
                                                                                  "retention.purge": 1}


def test_the_module_has_no_way_to_change_or_remove_a_record() -> None:
    public = {name for name, value in vars(audit).items() if callable(value) and not name.startswith("_")
              and getattr(value, "__module__", None) == audit.__name__}
    assert public == {"ensure_tables", "record", "record_many", "Event", "read", "counts_by_action", "hash_identifier",
                      "cli_actor"}
    for name in public:
        assert not re.search(r"update|delete|remove|purge|truncate|drop|clear|erase|edit|replace", name), name
    statements = " ".join(_string_literals(inspect.getsource(audit))).lower()
    assert "insert into" in statements and "select" in statements  # the SQL is what is searched
    for verb in ("update ", "delete ", "truncate ", "drop ", "create or replace", "insert or replace", "on conflict"):
        assert verb not in statements, verb


def test_an_empty_or_missing_log_reads_as_empty(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "empty.duckdb") as warehouse:
        frame = audit.read(warehouse)
        assert frame.empty and list(frame.columns) == list(audit.COLUMNS)
        assert audit.counts_by_action(warehouse, since=NOW) == {}


def test_detail_refuses_personal_data_and_bad_events_are_refused(warehouse) -> None:
    with pytest.raises(ValueError, match="no personal data"):
        audit.record(warehouse, "retention.purge", subject_type="table", detail={"who": "Ana.Lopez@example.com"},
                     actor="system", now=NOW)
    with pytest.raises(ValueError, match="no personal data"):
        audit.record(warehouse, "retention.purge", subject_type="table", detail={"rows": [{"x": "a@b.io"}]},
                     actor="system", now=NOW)
    with pytest.raises(ValueError, match="dotted lower-case"):
        audit.record(warehouse, "purge", subject_type="table", detail={}, actor="system", now=NOW)
    with pytest.raises(ValueError, match="actor"):
        audit.record(warehouse, "retention.purge", subject_type="table", detail={}, actor="", now=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        audit.record(warehouse, "retention.purge", subject_type="table", detail={}, actor="system",
                     now=datetime(2026, 1, 1))
    assert audit.read(warehouse).empty
    # an identifier, when one is ever needed, is stored hashed
    hashed = audit.hash_identifier("ana.lopez@example.com")
    assert hashed == hashlib.sha256(b"ana.lopez@example.com").hexdigest()
    audit.record(warehouse, "deletion.request", subject_type="email_sha256", subject_id=hashed,
                 detail={"identifier_sha256": hashed}, actor="system", now=NOW)
    assert audit.read(warehouse)["subject_id"].tolist() == [hashed]


def test_the_cli_actor_is_the_user_from_the_environment() -> None:
    assert audit.cli_actor({"USER": "ana"}) == "cli:ana"
    assert audit.cli_actor({"CDP_ACTOR": "dpo", "USER": "ana"}) == "cli:dpo"
    assert audit.cli_actor({"LOGNAME": "bo"}) == "cli:bo"


def _string_literals(source: str) -> list[str]:
    """Every string constant of a module (its SQL), docstrings left out."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]
