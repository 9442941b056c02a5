"""The table of tombstones (activations/governance/tombstones.py): hashes only, added once, read by every load."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from activations.governance import tombstones
from activations.governance.people import Identifier, Person
from dlt_sources.tombstones import TombstoneError, identifier_hash, record_hash
from expectations.warehouse import DuckDBWarehouse

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def person() -> Person:
    return Person(
        customer_id="cus_1", status="active", customer_ids=("cus_1",),
        identifiers=(Identifier("email", "ana@example.com"), Identifier("phone", "+14155550134"),
                     Identifier("device_id", "dev-1")),
        records=(("crm", "contacts", "101"), ("events", "events", "m1")),
    )


def test_added_once_with_kinds_and_no_values(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "wh.duckdb") as warehouse:
        assert tombstones.hashes(warehouse) == set()  # no table yet: nothing to drop
        tombs = tombstones.for_person(person())
        assert tombstones.add(warehouse, tombs, request_id="req-1", now=NOW) == 5
        assert tombstones.add(warehouse, [*tombs, tombstones.identifier("user_id", "u_9")], request_id="req-2") == 1
        assert tombstones.hashes(warehouse) == {
            identifier_hash("email", "ana@example.com"), identifier_hash("phone", "+14155550134"),
            identifier_hash("device_id", "dev-1"), identifier_hash("user_id", "u_9"),
            record_hash("crm", "contacts", "101"), record_hash("events", "events", "m1")}
        table = tombstones.read(warehouse)
    by_hash = table.set_index("identifier_hash")
    email = by_hash.loc[identifier_hash("email", "ana@example.com")]
    assert (email["kind"], email["identifier_type"], email["request_id"]) == ("identifier", "email", "req-1")
    assert pd.isna(email["source_name"]) and pd.isna(email["table_name"])
    contact = by_hash.loc[record_hash("crm", "contacts", "101")]
    assert (contact["kind"], contact["source_name"], contact["table_name"]) == ("record", "crm", "contacts")
    assert set(table["request_id"]) == {"req-1", "req-2"}  # the first request keeps its hashes
    text = table.astype(str).to_csv()
    assert "ana@example.com" not in text and "4155550134" not in text and "101" not in text.replace(
        record_hash("crm", "contacts", "101"), "")


def test_a_person_can_leave_identifier_types_out() -> None:
    tombs = tombstones.for_person(person(), skip_identifier_types=["device_id"])
    assert {t.identifier_type for t in tombs if t.kind == "identifier"} == {"email", "phone"}
    with pytest.raises(TombstoneError, match="unknown identifier type"):
        tombstones.for_person(person(), skip_identifier_types=["devices"])


def test_bad_tombstones_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    good = tombstones.identifier("email", "ana@example.com")
    with DuckDBWarehouse(tmp_path / "wh.duckdb") as warehouse:
        with pytest.raises(TombstoneError, match="request"):
            tombstones.add(warehouse, [good], request_id=" ")
        with pytest.raises(TombstoneError, match="SHA-256"):
            tombstones.add(warehouse, [good, tombstones.Tombstone("ana@example.com", "identifier", "email")],
                           request_id="r")
        with pytest.raises(TombstoneError, match="unknown tombstone kind"):
            tombstones.add(warehouse, [tombstones.Tombstone(good.identifier_hash, "person")], request_id="r")
        with pytest.raises(TombstoneError, match="record tombstone needs a raw table"):
            tombstones.add(warehouse, [tombstones.Tombstone(good.identifier_hash, "record", None, "web", "x")],
                           request_id="r")
        with pytest.raises(TombstoneError, match="expected Tombstone objects"):
            tombstones.add(warehouse, [good.identifier_hash], request_id="r")  # type: ignore[list-item]
        assert tombstones.hashes(warehouse) == set()
        assert tombstones.add(warehouse, [], request_id="r") == 0


def test_the_loads_look_for_identifier_types_the_identity_graph_has() -> None:
    """A raw field the registry tombstones by carries a type of dbt's identity.identifier_types (a
    misspelt type would never match a tombstone), and every type of the graph can be tombstoned."""
    from dlt_sources.tombstones import REGISTRY

    types = set(tombstones.identifier_types())
    assert {"email", "phone", "user_id", "anonymous_id"} <= types
    assert {f.identifier_type for spec in REGISTRY.values() for f in spec.identifiers} <= types
    assert all(tombstones.identifier(t, "x").identifier_hash for t in types)
