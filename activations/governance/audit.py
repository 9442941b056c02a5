"""The append-only audit log: `governance.audit_log`, one row per governed action.

What the platform did to data on its own authority (a retention purge, later a deletion or
a configuration change) is written here as it happens, with who or what did it. The module
only appends and reads: it has no update or delete, and nothing else in the platform writes
the table. (The warehouse cannot enforce this on its own; a deployment that needs it should
revoke UPDATE and DELETE on the table from the platform's role.)

`detail` is JSON text that must hold no personal data: table names, counts, cutoffs. Where an
identifier is ever needed, store `hash_identifier(value)` (SHA-256), never the value.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

SCHEMA = "governance"
AUDIT_LOG = f"{SCHEMA}.audit_log"
SEQUENCE = f"{SCHEMA}.audit_log_seq"
SYSTEM = "system"
COLUMNS = ("event_id", "seq", "occurred_at", "action", "subject_type", "subject_id", "detail", "actor", "run_id")

# Portable DDL (DuckDB and PostgreSQL). `seq` keeps the order records were written in, which
# `occurred_at` alone cannot (two records can share a timestamp).
DDL = (
    f"create schema if not exists {SCHEMA}",
    f"create sequence if not exists {SEQUENCE}",
    f"""create table if not exists {AUDIT_LOG} (
        event_id varchar not null primary key,
        seq bigint not null,
        occurred_at timestamp with time zone not null,
        action varchar not null,
        subject_type varchar not null,
        subject_id varchar,
        detail varchar not null,
        actor varchar not null,
        run_id varchar
    )""",
)

_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")  # `retention.purge`, `config.change`
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
DEFAULT_LIMIT = 1000


def ensure_tables(warehouse: Any) -> None:
    for statement in DDL:
        warehouse.execute(statement)


def hash_identifier(value: str) -> str:
    """The SHA-256 hex digest of an identifier: what `detail` may hold instead of the value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def cli_actor(env: Mapping[str, str] | None = None) -> str:
    """The actor of a command run by hand: `cli:<user>`, the user from the environment."""
    env = os.environ if env is None else env
    user = env.get("CDP_ACTOR") or env.get("USER") or env.get("LOGNAME")
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
    return f"cli:{user}"


def record(
    warehouse: Any,
    action: str,
    *,
    subject_type: str,
    subject_id: str | None = None,
    detail: Mapping[str, Any],
    actor: str,
    run_id: str | None = None,
    now: datetime | None = None,
) -> str:
    """Appends one event and returns its id. The caller's transaction, if one is open, holds it."""
    _check(action, subject_type, actor)
    text = _detail_json(detail)
    occurred_at = now or datetime.now(timezone.utc)
    if occurred_at.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    event_id = str(uuid.uuid4())
    warehouse.execute(
        f"insert into {AUDIT_LOG} (event_id, seq, occurred_at, action, subject_type, subject_id, detail, actor, run_id)"
        f" values (?, nextval('{SEQUENCE}'), ?, ?, ?, ?, ?, ?, ?)",
        (event_id, occurred_at, action, subject_type, subject_id, text, actor, run_id),
    )
    return event_id


@dataclass(frozen=True)
class Event:
    """One event for `record_many`: what `record` takes, without who, when and the run."""

    action: str
    subject_type: str
    subject_id: str | None
    detail: Mapping[str, Any]


def record_many(
    warehouse: Any,
    events: Sequence[Event],
    *,
    actor: str,
    run_id: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Appends many events at once (one insert, not one per event) and returns their ids, in order.

    Every event is checked as `record` checks it before anything is written; one bad event
    writes none. They share `now`, and `seq` follows the order of `events`."""
    if not events:
        return []
    if not actor:
        raise ValueError("an audit event needs an actor: 'system', 'cli:<user>' or a run id")
    occurred_at = now or datetime.now(timezone.utc)
    if occurred_at.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    rows = []
    for position, event in enumerate(events):
        if not isinstance(event, Event):
            raise ValueError(f"record_many takes audit.Event items, got {type(event).__name__} at {position}")
        try:
            _check(event.action, event.subject_type, actor)
            text = _detail_json(event.detail)
        except ValueError as error:
            raise ValueError(f"audit event {position} ({event.action!r}): {error}") from None
        rows.append({"position": str(position), "event_id": str(uuid.uuid4()), "action": event.action,
                     "subject_type": event.subject_type, "has_subject": "1" if event.subject_id is not None else "0",
                     "subject_id": event.subject_id or "", "detail": text})
    frame = pd.DataFrame(rows, columns=list(rows[0]))
    warehouse.stage_keys("_audit_incoming", frame)
    # nextval is evaluated row by row after the ordering (DuckDB keeps a subquery's order;
    # PostgreSQL evaluates volatile output expressions after ORDER BY)
    warehouse.execute(
        f"insert into {AUDIT_LOG} (event_id, seq, occurred_at, action, subject_type, subject_id, detail, actor, run_id)"
        f" select event_id, nextval('{SEQUENCE}'), ?, action, subject_type,"
        f" case when has_subject = '1' then subject_id end, detail, ?, ?"
        f" from (select * from _audit_incoming order by cast(position as integer)) as incoming"
        f" order by cast(position as integer)",
        (occurred_at, actor, run_id),
    )
    return [row["event_id"] for row in rows]


def read(
    warehouse: Any,
    *,
    action: str | None = None,
    subject_id: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
) -> pd.DataFrame:
    """The newest `limit` matching events, oldest first (in the order they were written).
    Empty (with the columns) when the log does not exist yet."""
    if not warehouse.table_exists(SCHEMA, "audit_log"):
        return pd.DataFrame(columns=list(COLUMNS))
    clauses, params = [], []
    for column, value in (("action", action), ("subject_id", subject_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("occurred_at >= ?")
        params.append(since)
    where = (" where " + " and ".join(clauses)) if clauses else ""
    newest = f"select {', '.join(COLUMNS)} from {AUDIT_LOG}{where} order by seq desc limit {int(limit)}"
    frame = warehouse.query(f"select * from ({newest}) as newest order by seq", params).reset_index(drop=True)
    for column in ("subject_id", "run_id"):  # nullable text: None, not NaN
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def counts_by_action(warehouse: Any, *, since: datetime) -> dict[str, int]:
    """action -> events since `since` (nothing when the log does not exist yet)."""
    if not warehouse.table_exists(SCHEMA, "audit_log"):
        return {}
    frame = warehouse.query(
        f"select action, count(*) as events from {AUDIT_LOG} where occurred_at >= ? group by action order by action",
        (since,),
    )
    return {str(row.action): int(row.events) for row in frame.itertuples(index=False)}


def _check(action: str, subject_type: str, actor: str) -> None:
    if not isinstance(action, str) or not _ACTION.match(action):
        raise ValueError(f"an audit action is dotted lower-case words like 'retention.purge', got {action!r}")
    if not subject_type:
        raise ValueError("an audit event needs a subject_type")
    if not actor:
        raise ValueError("an audit event needs an actor: 'system', 'cli:<user>' or a run id")


def _detail_json(detail: Mapping[str, Any]) -> str:
    if not isinstance(detail, Mapping):
        raise ValueError(f"detail must be a mapping, got {type(detail).__name__}")
    for value in _strings(detail):
        if _EMAIL.search(value):
            raise ValueError("detail must hold no personal data: an email address was found"
                             " (store hash_identifier(value) if the identifier is needed)")
    return json.dumps(detail, sort_keys=True, default=_json_value)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for key, item in value.items() for s in (*_strings(str(key)), *_strings(item))]
    if isinstance(value, (list, tuple, set)):
        return [s for item in value for s in _strings(item)]
    return []


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"detail values must be JSON (or dates), got {type(value).__name__}")
