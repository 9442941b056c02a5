"""The tombstones of deleted people: `governance.tombstones`, hashes the loads drop records by.

A deletion request adds one row per identifier and per source record of the person; every
later load reads `hashes(warehouse)` and drops the records that carry one of them before they
reach raw (dlt_sources/tombstones.py). The table holds hashes and what kind of thing each
names (an identifier type, a source table), never a value: it names nobody, yet a known
identifier can be checked against it by hashing it.

| column | what |
|---|---|
| `identifier_hash` | primary key: SHA-256 hex of `<type>:<value>` or `record:<source>/<table>/<key>` |
| `kind` | `identifier` or `record` |
| `identifier_type` | for an identifier: `email`, `phone`, `user_id`, ... |
| `source_name`, `table_name` | for a record: the raw table it came from |
| `request_id` | the deletion request that added it (the first one, when two name the same) |
| `created_at` | when it was added |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from dlt_sources.tombstones import (
    REGISTRY,
    TombstoneError,
    identifier_hash,
    is_hash,
    record_hash,
)

SCHEMA = "governance"
TABLE = f"{SCHEMA}.tombstones"
KINDS = ("identifier", "record")
COLUMNS = ("identifier_hash", "kind", "identifier_type", "source_name", "table_name", "request_id", "created_at")

DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {TABLE} (
        identifier_hash varchar not null primary key,
        kind varchar not null,
        identifier_type varchar,
        source_name varchar,
        table_name varchar,
        request_id varchar not null,
        created_at timestamp with time zone not null
    )""",
)
_CHUNK = 500


@cache
def identifier_types() -> tuple[str, ...]:
    """The identifier types of the identity graph (dbt var `identity.identifier_types`): a type
    added there is tombstoned with no change here."""
    from transform.project import project_var

    return tuple(str(spec["type"]) for spec in project_var("identity")["identifier_types"])


@dataclass(frozen=True)
class Tombstone:
    """One hash to drop records by, and what it names (a type or a table, not the value)."""

    identifier_hash: str
    kind: str
    identifier_type: str | None = None
    source_name: str | None = None
    table_name: str | None = None

    def check(self) -> None:
        if not is_hash(self.identifier_hash):
            raise TombstoneError("a tombstone's hash must be a SHA-256 hex digest (64 lower-case hex digits)")
        if self.kind == "identifier":
            if self.identifier_type not in identifier_types() or self.source_name or self.table_name:
                raise TombstoneError(
                    f"an identifier tombstone needs one identifier type of {', '.join(identifier_types())} and no table;"
                    f" got type {self.identifier_type!r}"
                )
        elif self.kind == "record":
            if (self.source_name, self.table_name) not in REGISTRY or self.identifier_type:
                raise TombstoneError(
                    f"a record tombstone needs a raw table of the registry and no identifier type;"
                    f" got {self.source_name}/{self.table_name}"
                )
        else:
            raise TombstoneError(f"unknown tombstone kind {self.kind!r}; kinds: {', '.join(KINDS)}")


def identifier(identifier_type: str, normalized_value: str) -> Tombstone:
    """The tombstone of an identifier, its value as the identity graph holds it (normalized)."""
    return Tombstone(identifier_hash(identifier_type, normalized_value), "identifier", identifier_type=identifier_type)


def record(source: str, table: str, record_key: str) -> Tombstone:
    """The tombstone of a source record (`identity.customer_records`' source, table and key)."""
    return Tombstone(record_hash(source, table, record_key), "record", source_name=source, table_name=table)


def for_person(person: Any, *, skip_identifier_types: Iterable[str] = ()) -> list[Tombstone]:
    """Tombstones of every identifier and record of a resolved person (activations.governance.people.Person).

    Identifier types the deletion leaves out (`skip_identifier_types`) get none. A record of a
    table the loads do not know (none today) is an error rather than silently missed.
    """
    skipped = set(skip_identifier_types)
    unknown = skipped - set(identifier_types())
    if unknown:
        raise TombstoneError(f"unknown identifier type(s) to skip: {sorted(unknown)}")
    found: dict[str, Tombstone] = {}
    for ident in person.identifiers:
        if ident.type not in skipped:
            tomb = identifier(ident.type, ident.value)
            found[tomb.identifier_hash] = tomb
    for source, table, key in person.records:
        tomb = record(source, table, key)
        found[tomb.identifier_hash] = tomb
    return list(found.values())


def ensure_table(warehouse: Any) -> None:
    for statement in DDL:
        warehouse.execute(statement)


def add(warehouse: Any, tombstones: Iterable[Tombstone], *, request_id: str, now: datetime | None = None) -> int:
    """Adds the tombstones not there yet (creating the table when missing); returns how many were new.

    A hash already tombstoned keeps its first request. Every tombstone is checked before any is
    written: a malformed one fails the call and writes nothing.
    """
    if not isinstance(request_id, str) or not request_id.strip():
        raise TombstoneError("a tombstone needs the id of the deletion request that adds it")
    given: dict[str, Tombstone] = {}
    for tomb in tombstones:
        if not isinstance(tomb, Tombstone):
            raise TombstoneError(
                f"expected Tombstone objects (tombstones.identifier/record), got {type(tomb).__name__}"
            )
        tomb.check()
        given.setdefault(tomb.identifier_hash, tomb)
    if not given:
        return 0
    ensure_table(warehouse)
    existing = set()
    keys = list(given)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        frame = warehouse.query(
            f"select identifier_hash from {TABLE} where identifier_hash in ({', '.join('?' for _ in chunk)})", chunk
        )
        existing.update(frame["identifier_hash"].astype(str))
    new = [tomb for key, tomb in given.items() if key not in existing]
    if not new:
        return 0
    created_at = pd.Timestamp(now or datetime.now(timezone.utc))
    if created_at.tzinfo is None:
        raise TombstoneError("`now` must carry a time zone")
    frame = pd.DataFrame(
        [
            (t.identifier_hash, t.kind, t.identifier_type, t.source_name, t.table_name, request_id, created_at)
            for t in new
        ],
        columns=list(COLUMNS),
    )
    warehouse.insert_frame(TABLE, frame)
    return len(new)


def hashes(warehouse: Any) -> set[str]:
    """Every tombstoned hash; empty when no deletion has made the table yet."""
    if not warehouse.table_exists(SCHEMA, "tombstones"):
        return set()
    return set(warehouse.query(f"select identifier_hash from {TABLE}")["identifier_hash"].astype(str))


def read(warehouse: Any) -> pd.DataFrame:
    """The table, oldest first (hashes and kinds only: it holds no values)."""
    if not warehouse.table_exists(SCHEMA, "tombstones"):
        return pd.DataFrame(columns=list(COLUMNS))
    return warehouse.query(f"select {', '.join(COLUMNS)} from {TABLE} order by created_at, identifier_hash")
