"""The `quality` schema: quarantine, the history of validated loads, and the columns seen so far.

`quality.quarantine` holds one row per (source, table, raw row, expectation) that failed: the
raw row is named by its dlt row id (`_dlt_id`, unique per loaded row) and, for people, by its
business key (`row_key`: messageId, contact id, order id, ...) and load. Raw keeps every row;
the clean zone leaves out a raw row while an unreleased entry names its row id. Releasing
sets `released_at`, and the row flows on at the next run. A fixed record that arrives again
is a new raw row, judged afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pandas as pd

SCHEMA = "quality"
QUARANTINE = f"{SCHEMA}.quarantine"
VALIDATIONS = f"{SCHEMA}.load_validations"
KNOWN_COLUMNS = f"{SCHEMA}.known_columns"

QUARANTINE_COLUMNS = (
    "source", "table_name", "row_key", "row_id", "load_id", "expectation", "reason", "severity", "column_name",
    "offending_value", "first_seen_at", "last_seen_at", "released_at", "released_by", "release_note",
)

# The dbt project creates the same tables (macro `create_quality_tables`, run on-run-start):
# keep both in step (tests/expectations/test_quarantine.py compares them).
DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {QUARANTINE} (
        source varchar not null,
        table_name varchar not null,
        row_key varchar not null,
        row_id varchar not null,
        load_id varchar not null,
        expectation varchar not null,
        reason varchar not null,
        severity varchar not null,
        column_name varchar,
        offending_value varchar,
        first_seen_at timestamp with time zone not null,
        last_seen_at timestamp with time zone not null,
        released_at timestamp with time zone,
        released_by varchar,
        release_note varchar
    )""",
    f"""create table if not exists {VALIDATIONS} (
        source varchar not null,
        table_name varchar not null,
        load_id varchar not null,
        validated_at timestamp with time zone not null,
        row_count bigint not null,
        passed boolean not null,
        critical_failures bigint not null,
        warnings bigint not null,
        quarantined_rows bigint not null,
        data_docs varchar
    )""",
    f"""create table if not exists {KNOWN_COLUMNS} (
        source varchar not null,
        table_name varchar not null,
        column_name varchar not null,
        data_type varchar not null,
        first_seen_load_id varchar,
        first_seen_at timestamp with time zone not null
    )""",
)


def ensure_tables(warehouse: Any) -> None:
    for statement in DDL:
        warehouse.execute(statement)


def record_failures(warehouse: Any, failures: pd.DataFrame, now: datetime) -> int:
    """Adds new quarantine entries and refreshes `last_seen_at` of known ones. Returns entries added."""
    if failures.empty:
        return 0
    keys = ["source", "table_name", "row_id", "expectation"]
    failures = failures.drop_duplicates(keys).copy()
    failures["first_seen_at"] = now
    failures["last_seen_at"] = now
    failures["released_at"] = pd.Series(pd.NaT, index=failures.index, dtype="datetime64[us, UTC]")
    failures["released_by"] = None
    failures["release_note"] = None
    failures = failures[list(QUARANTINE_COLUMNS)]
    warehouse.stage_keys("_quarantine_incoming", failures[keys])
    match = " and ".join(f"q.{k} = i.{k}" for k in keys)
    warehouse.execute(
        f"update {QUARANTINE} as q set last_seen_at = ?"
        f" where exists (select 1 from _quarantine_incoming as i where {match})",
        (now,),
    )
    existing = warehouse.query(
        f"select {', '.join('i.' + k for k in keys)} from _quarantine_incoming as i"
        f" join {QUARANTINE} as q on {match}"
    )
    if existing.empty:
        fresh = failures
    else:
        marker = failures[keys].astype(str).merge(existing.assign(_known=True), on=keys, how="left")["_known"]
        fresh = failures[~marker.eq(True).to_numpy()]
    warehouse.insert_frame(QUARANTINE, fresh)
    return len(fresh)


@dataclass(frozen=True)
class Selection:
    """Which quarantine entries a list or release applies to."""

    source: str | None = None
    table: str | None = None
    reason: str | None = None
    expectation: str | None = None
    keys: Sequence[str] = ()
    load_id: str | None = None
    include_released: bool = False

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for column, value in (
            ("source", self.source), ("table_name", self.table), ("reason", self.reason),
            ("expectation", self.expectation), ("load_id", self.load_id),
        ):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.keys:
            clauses.append(f"row_key in ({', '.join('?' for _ in self.keys)})")
            params.extend(self.keys)
        if not self.include_released:
            clauses.append("released_at is null")
        return (" where " + " and ".join(clauses)) if clauses else "", params

    @property
    def is_everything(self) -> bool:
        return not any((self.source, self.table, self.reason, self.expectation, self.keys, self.load_id))


def summary(warehouse: Any, selection: Selection) -> pd.DataFrame:
    """Counts of quarantined rows by source, table and reason."""
    where, params = selection.where()
    return warehouse.query(
        f"select source, table_name, reason, count(distinct row_key) as rows, count(*) as entries,"
        f" min(first_seen_at) as first_seen_at, max(last_seen_at) as last_seen_at"
        f" from {QUARANTINE}{where} group by source, table_name, reason order by source, table_name, reason",
        params,
    )


def entries(warehouse: Any, selection: Selection, limit: int | None = 50) -> pd.DataFrame:
    where, params = selection.where()
    sql = (
        f"select source, table_name, row_key, row_id, load_id, reason, expectation, severity, column_name,"
        f" offending_value, first_seen_at, released_at from {QUARANTINE}{where}"
        f" order by source, table_name, reason, row_key"
    )
    if limit is not None:
        sql += f" limit {int(limit)}"
    return warehouse.query(sql, params)


def release(warehouse: Any, selection: Selection, *, by: str, note: str, now: datetime) -> int:
    """Marks the selected entries released. Returns how many entries were released."""
    where, params = replace(selection, include_released=False).where()
    count = int(warehouse.query(f"select count(*) as n from {QUARANTINE}{where}", params)["n"].iloc[0])
    if count:
        warehouse.execute(
            f"update {QUARANTINE} set released_at = ?, released_by = ?, release_note = ?{where}",
            (now, by, note, *params),
        )
    return count
