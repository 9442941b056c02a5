"""The sync engine: keeps one destination in step with one audience, sending only what changed.

Desired state (the audience's members with the fields to send, consent already applied) is
compared with what the destination last acknowledged (`activation.destination_state`), and
only adds, updates and removes go out, in batches, through a transactional outbox:

1. a batch is written to `activation.outbox` with a `pending` row per change in the ledger,
   in one transaction, before anything is sent;
2. it is sent with its batch id as the idempotency key;
3. the destination's answer is applied in one transaction: acknowledged records update the
   state, every record's ledger row gets its status, the outbox row goes.

A crash between 1 and 3 leaves the batch in the outbox; the next sync sends that same batch
again, under the same key, before planning anything new, so a change is never sent as two
different requests (destinations dedupe on the key or apply idempotently). Records a
destination rejects stay out of the state, so later syncs retry them, until `max_attempts`
failures for the same payload declare them `dead` (a changed payload tries again).

Plain Python over any warehouse connection with `query`/`execute`/`insert_frame` (see
`expectations.warehouse`): DuckDB or PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Protocol

import pandas as pd

from activations.governance import audit

SYNC_MODES = ("upsert", "mirror", "add_only")
OPERATIONS = ("add", "update", "remove")
SCHEMA = "activation"
STATE = f"{SCHEMA}.destination_state"
LEDGER = f"{SCHEMA}.activation_ledger"
OUTBOX = f"{SCHEMA}.outbox"
RUNS = f"{SCHEMA}.sync_runs"

DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {STATE} (
        destination varchar not null,
        audience varchar not null,
        customer_id varchar not null,
        payload_hash varchar not null,
        sent_fields varchar not null,
        acknowledged_at timestamp with time zone not null,
        sync_run_id varchar not null,
        primary key (destination, audience, customer_id)
    )""",
    f"""create table if not exists {LEDGER} (
        sync_run_id varchar not null,
        destination varchar not null,
        audience varchar not null,
        customer_id varchar not null,
        operation varchar not null,
        payload_hash varchar not null,
        batch_id varchar not null,
        status varchar not null,
        attempt integer not null,
        error varchar,
        reason varchar,
        recorded_at timestamp with time zone not null,
        acknowledgement varchar
    )""",
    # tables created before the column existed
    f"alter table {LEDGER} add column if not exists acknowledgement varchar",
    f"""create table if not exists {OUTBOX} (
        batch_id varchar primary key,
        sync_run_id varchar not null,
        destination varchar not null,
        audience varchar not null,
        changes varchar not null,
        created_at timestamp with time zone not null
    )""",
    f"""create table if not exists {RUNS} (
        sync_run_id varchar not null,
        destination varchar not null,
        audience varchar not null,
        mode varchar not null,
        started_at timestamp with time zone not null,
        finished_at timestamp with time zone,
        dry_run boolean not null,
        added integer, updated integer, removed integer, failed integer, dead integer,
        skipped_consent integer, skipped_priority integer, recovered_batches integer, requests integer,
        unchanged integer
    )""",
)


class SyncError(RuntimeError):
    """The sync cannot run (bad mode, bad desired state) or a batch failed as a whole."""


class ConsentViolation(SyncError):
    """The last check before sending found outgoing rows for people who may not receive them."""


@dataclass(frozen=True)
class Change:
    customer_id: str
    operation: str  # add | update | remove
    fields: dict[str, Any]  # what is sent: the new fields, or for a remove the fields last sent
    payload_hash: str
    reason: str | None = None  # why a remove: `exited`, `no_consent`, `identity_changed`, `erased`
    # for an update, what the destination acknowledged before (a destination may send only the
    # fields that differ, so that it never rewrites a value someone else changed meanwhile)
    previous: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "operation": self.operation, "fields": self.fields,
                "payload_hash": self.payload_hash, "reason": self.reason, "previous": self.previous}

    def changed_fields(self) -> dict[str, Any]:
        """The fields to write: for an update, those that differ from `previous`; else all."""
        if self.operation != "update" or self.previous is None:
            return dict(self.fields)
        return {name: value for name, value in self.fields.items()
                if name not in self.previous or self.previous[name] != value}


@dataclass(frozen=True)
class RecordResult:
    """A destination's answer for one change: acknowledged, or the error it gave."""

    customer_id: str
    ok: bool
    error: str | None = None
    # what the destination holds now when it differs from what was sent (an id it assigned):
    # kept in the state instead of the sent fields, so the next diff compares with it
    fields: dict[str, Any] | None = None
    # what the destination answered about the record (e.g. its id and modification time),
    # kept as JSON in the ledger row: a two-way sync recognizes its own writes by it
    acknowledgement: dict[str, Any] | None = None


class Destination(Protocol):
    """What the engine needs of a destination client (see activations/destinations/)."""

    name: str
    batch_size: int

    def send(self, audience: str, operation: str, changes: Sequence[Change], idempotency_key: str) -> list[RecordResult]:
        """Sends one batch of one operation kind (`upsert` for adds and updates, `remove`) for
        `audience` (the destination maps it to its list, audience or folder).

        Returns one result per change; raises for a failure of the whole batch once its own
        retries are spent (the batch then stays in the outbox for the next sync)."""
        ...


@dataclass
class SyncReport:
    sync_run_id: str
    destination: str
    audience: str
    mode: str
    dry_run: bool = False
    added: int = 0
    updated: int = 0
    removed: int = 0
    failed: int = 0
    dead: int = 0
    skipped_consent: int = 0
    skipped_priority: int = 0  # members held by an audience of higher priority in an exclusive group
    unchanged: int = 0
    recovered_batches: int = 0
    requests: int = 0
    plan: list[Change] = field(default_factory=list, repr=False)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in (
            "added", "updated", "removed", "failed", "dead", "skipped_consent", "skipped_priority", "unchanged",
            "recovered_batches", "requests")}


def ensure_tables(warehouse: Any) -> None:
    for statement in DDL:
        warehouse.execute(statement)


def canonical(fields: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe field values: decimals as numbers, times as ISO strings, NaN/NA as null."""
    out: dict[str, Any] = {}
    for name in sorted(fields):
        value = fields[name]
        if type(value) in _PLAIN:
            out[name] = value
        elif value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
            out[name] = None
        elif isinstance(value, Decimal):
            out[name] = float(value)
        elif isinstance(value, (datetime, date, pd.Timestamp)):
            out[name] = value.isoformat()
        elif hasattr(value, "item"):  # numpy scalars
            out[name] = value.item()
        else:
            out[name] = value
    return out


def canonical_value(value: Any) -> Any:
    """How a key field compares: text trimmed and lower-cased (emails), anything else as is."""
    return value.strip().lower() if isinstance(value, str) else value


_PLAIN = (str, int, bool)


def payload_hash(fields: Mapping[str, Any]) -> str:
    return _digest(canonical(fields))


def _digest(canonical_fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(canonical_fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def held_fields(held: tuple[str, Any]) -> dict[str, Any]:
    """The fields a destination acknowledged (kept as JSON text until needed: most are not)."""
    fields = held[1]
    return json.loads(fields) if isinstance(fields, str) else fields


def plan(
    desired: Mapping[str, Mapping[str, Any]],
    acknowledged: Mapping[str, tuple[str, dict[str, Any]]],
    mode: str,
    *,
    blocked: Iterable[str] = (),
    key_fields: Sequence[str] = (),
    erased: Iterable[str] = (),
) -> list[Change]:
    """The changes that bring a destination from `acknowledged` to `desired`.

    desired: customer id -> fields to send (members allowed to be sent).
    acknowledged: customer id -> (payload hash, fields) the destination last acknowledged.
    blocked: members without consent, suppressed or deleted: removed if the destination holds
        them, whatever the mode.
    Modes: `upsert` adds and updates, `mirror` also removes those who left, `add_only` adds.
    erased: people a deletion request names: removed like the blocked, with reason `erased`, so a
        destination that can forget a member for good (an email platform's permanent delete)
        does, instead of archiving them.
    key_fields: the fields a destination identifies a member by (an email platform's email, an
        ad platform's hashed email and phone). An update that changes one is a remove of the
        old identity (reason `identity_changed`) and an add of the new, or the old would stay.
    """
    if mode not in SYNC_MODES:
        raise SyncError(f"unknown sync mode {mode!r}; expected one of {', '.join(SYNC_MODES)}")
    erased = set(erased)
    blocked = set(blocked) | erased
    changes: list[Change] = []
    for customer_id in sorted(desired):
        if customer_id in blocked:
            continue
        fields = canonical(desired[customer_id])
        digest = _digest(fields)
        held = acknowledged.get(customer_id)
        if held is None:
            changes.append(Change(customer_id, "add", fields, digest))
        elif held[0] != digest and mode != "add_only":
            before = held_fields(held)
            if any(canonical_value(before.get(name)) != canonical_value(fields.get(name)) for name in key_fields):
                changes.append(Change(customer_id, "remove", before, held[0], "identity_changed"))
                changes.append(Change(customer_id, "add", fields, digest))
            else:
                changes.append(Change(customer_id, "update", fields, digest, previous=held_fields(held)))
    for customer_id in sorted(acknowledged):
        if customer_id in blocked:
            changes.append(Change(customer_id, "remove", held_fields(acknowledged[customer_id]),
                                  acknowledged[customer_id][0], "erased" if customer_id in erased else "no_consent"))
        elif customer_id not in desired and mode == "mirror":
            changes.append(Change(customer_id, "remove", held_fields(acknowledged[customer_id]),
                                  acknowledged[customer_id][0], "exited"))
    return changes


def desired_from_frame(frame: pd.DataFrame, fields: Sequence[str], key: str = "customer_id") -> dict[str, dict[str, Any]]:
    """customer id -> {field: value} from an audience's rows; one row per customer, or an error naming the repeats."""
    missing = [name for name in (key, *fields) if name not in frame.columns]
    if missing:
        raise SyncError(f"the audience rows lack column(s) {', '.join(missing)}")
    repeated = frame[key][frame[key].duplicated()].unique()
    if len(repeated):
        raise SyncError(f"{len(repeated)} customer(s) appear more than once in the audience, e.g. {repeated[0]!r}")
    columns = [frame[name].tolist() for name in fields]  # column-wise: far faster than row dicts
    return {str(customer_id): dict(zip(fields, values)) for customer_id, *values in zip(frame[key].tolist(), *columns)}


def batch_id(destination: str, audience: str, operation: str, changes: Sequence[Change],
             attempts: Mapping[str, int] | None = None) -> str:
    """Deterministic: the same changes at the same attempts give the same id (and idempotency
    key). The attempt is part of it so that a retry of a rejected record is a new request, not
    one the destination answers from its idempotency store with the old rejection."""
    attempts = attempts or {}
    digest = hashlib.sha256()
    for part in (destination, audience, operation,
                 *(f"{c.customer_id}:{c.operation}:{c.payload_hash}:{attempts.get(c.customer_id, 0)}" for c in changes)):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:32]


class SyncEngine:
    """Runs syncs of one destination; `now` is injectable for tests."""

    def __init__(self, warehouse: Any, destination: Destination, *, max_attempts: int = 5,
                 now: Callable[[], datetime] | None = None, actor: str = audit.SYSTEM) -> None:
        if max_attempts < 1:
            raise SyncError(f"max_attempts must be at least 1, got {max_attempts}")
        if not actor:
            raise SyncError("a sync needs an actor for the audit log: 'system' or 'cli:<user>'")
        self.warehouse = warehouse
        self.destination = destination
        self.max_attempts = max_attempts
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.actor = actor
        ensure_tables(warehouse)
        audit.ensure_tables(warehouse)

    # -- state ---------------------------------------------------------------------------

    def acknowledged(self, audience: str) -> dict[str, tuple[str, dict[str, Any]]]:
        frame = self.warehouse.query(
            f"select customer_id, payload_hash, sent_fields from {STATE} where destination = ? and audience = ?",
            (self.destination.name, audience))
        return dict(zip(frame["customer_id"], zip(frame["payload_hash"], frame["sent_fields"])))

    def failures(self, audience: str) -> dict[tuple[str, str, str], tuple[int, str]]:
        """(customer, operation, payload hash) -> (failed attempts so far, last status)."""
        frame = self.warehouse.query(
            f"select customer_id, operation, payload_hash, max(attempt) as attempts,"
            f" max(case when status = 'dead' then 1 else 0 end) as is_dead"
            f" from {LEDGER} where destination = ? and audience = ? and status in ('failed', 'dead')"
            f" group by customer_id, operation, payload_hash",
            (self.destination.name, audience))
        return {(r.customer_id, r.operation, r.payload_hash): (int(r.attempts), "dead" if r.is_dead else "failed")
                for r in frame.itertuples()}

    # -- the sync --------------------------------------------------------------------------

    def sync(self, audience: str, desired: Mapping[str, Mapping[str, Any]], *, mode: str, run_id: str,
             blocked: Iterable[str] = (), dry_run: bool = False,
             guard: Callable[[Sequence[Change]], None] | None = None, erased: Iterable[str] = ()) -> SyncReport:
        """One sync of `audience` to this destination. See the module docstring.

        `guard`, when given, sees every add and update before anything is sent and raises (e.g.
        `ConsentViolation`) to stop the sync with nothing sent."""
        report = SyncReport(run_id, self.destination.name, audience, mode, dry_run=dry_run)
        blocked = set(blocked)
        report.skipped_consent = sum(1 for customer_id in desired if customer_id in blocked)
        started = self.now()
        if not dry_run:
            self._recover(audience, report)
        held = self.acknowledged(audience)
        changes = plan(desired, held, mode, blocked=blocked, key_fields=getattr(self.destination, "key_fields", ()),
                       erased=erased)
        failures = self.failures(audience)
        sendable = []
        for change in changes:
            attempts, status = failures.get((change.customer_id, change.operation, change.payload_hash), (0, ""))
            if status == "dead":
                report.dead += 1
            else:
                sendable.append((change, attempts))
        report.plan = [change for change, _ in sendable]
        changed_held = {c.customer_id for c in changes if c.operation != "remove" and c.customer_id in held}
        report.unchanged = sum(1 for customer_id in desired if customer_id not in blocked and customer_id in held
                               and customer_id not in changed_held)
        if dry_run:
            for change in report.plan:
                setattr(report, _COUNTER[change.operation], getattr(report, _COUNTER[change.operation]) + 1)
            return report
        if guard is not None:
            guard([change for change, _ in sendable if change.operation != "remove"])
        for operation in ("remove", "upsert"):
            group = [(c, a) for c, a in sendable if (c.operation == "remove") == (operation == "remove")]
            for start in range(0, len(group), self.destination.batch_size):
                self._send_batch(audience, operation, group[start:start + self.destination.batch_size], report)
        self.warehouse.insert_frame(RUNS, pd.DataFrame([{
            "sync_run_id": run_id, "destination": self.destination.name, "audience": audience, "mode": mode,
            "started_at": started, "finished_at": self.now(), "dry_run": False, **report.counts()}]))
        return report

    def _send_batch(self, audience: str, operation: str, group: list[tuple[Change, int]], report: SyncReport) -> None:
        changes = [change for change, _ in group]
        attempts = {change.customer_id: attempt for change, attempt in group}
        key = batch_id(self.destination.name, audience, operation, changes, attempts)
        now = self.now()
        self._begin()
        try:
            self.warehouse.insert_frame(OUTBOX, pd.DataFrame([{
                "batch_id": key, "sync_run_id": report.sync_run_id, "destination": self.destination.name,
                "audience": audience, "changes": json.dumps([c.as_json() for c in changes]), "created_at": now}]))
            self.warehouse.insert_frame(LEDGER, self._ledger_rows(report.sync_run_id, audience, key, changes,
                                                                  "pending", attempts, {}, now))
            self._commit()
        except BaseException:
            self._rollback()
            raise
        results = self._deliver(audience, operation, changes, key, report)
        self._apply(report.sync_run_id, audience, key, changes, attempts, results, report)

    def _deliver(self, audience: str, operation: str, changes: Sequence[Change], key: str,
                 report: SyncReport, recovered: bool = False) -> list[RecordResult]:
        report.requests += 1
        try:
            results = self.destination.send(audience, operation, changes, key)
        except Exception as error:
            # the batch stays in the outbox; the attempt is audited (the error's type only: its
            # text can quote what was sent)
            self._audit_batch(report.sync_run_id, audience, key, changes, recovered=recovered,
                              error=type(error).__name__)
            raise
        by_id = {result.customer_id: result for result in results}
        missing = [c.customer_id for c in changes if c.customer_id not in by_id]
        if missing:
            raise SyncError(f"{self.destination.name} answered no result for {len(missing)} of {len(changes)} records"
                            f" (e.g. {missing[0]}); the batch stays in the outbox for the next sync")
        return [by_id[c.customer_id] for c in changes]

    def _apply(self, run_id: str, audience: str, key: str, changes: Sequence[Change], attempts: Mapping[str, int],
               results: Sequence[RecordResult], report: SyncReport, recovered: bool = False) -> None:
        now = self.now()
        outcome = {result.customer_id: result for result in results}
        acknowledged = [c for c in changes if outcome[c.customer_id].ok]
        self._begin()
        try:
            self.warehouse.execute(f"delete from {LEDGER} where batch_id = ? and status = 'pending'", (key,))
            self.warehouse.insert_frame(LEDGER, self._ledger_rows(run_id, audience, key, changes, None, attempts,
                                                                  outcome, now))
            if acknowledged:
                frame = pd.DataFrame({"customer_id": [c.customer_id for c in acknowledged]})
                self.warehouse.stage_keys("_acknowledged", frame)
                self.warehouse.execute(
                    f"delete from {STATE} where destination = ? and audience = ?"
                    f" and customer_id in (select customer_id from _acknowledged)", (self.destination.name, audience))
                kept = [c for c in acknowledged if c.operation != "remove"]
                if kept:
                    self.warehouse.insert_frame(STATE, pd.DataFrame([{
                        "destination": self.destination.name, "audience": audience, "customer_id": c.customer_id,
                        **_held_now(c, outcome[c.customer_id]), "acknowledged_at": now, "sync_run_id": run_id}
                        for c in kept]))
            self.warehouse.execute(f"delete from {OUTBOX} where batch_id = ?", (key,))
            self._audit_batch(run_id, audience, key, changes, recovered=recovered, outcome=outcome, attempts=attempts)
            self._commit()
        except BaseException:
            self._rollback()
            raise
        for change in changes:
            if outcome[change.customer_id].ok:
                setattr(report, _COUNTER[change.operation], getattr(report, _COUNTER[change.operation]) + 1)
            elif attempts.get(change.customer_id, 0) + 1 >= self.max_attempts:
                report.dead += 1
            else:
                report.failed += 1

    def _recover(self, audience: str, report: SyncReport) -> None:
        """Sends again, under their own keys, the batches a crashed sync left in the outbox."""
        frame = self.warehouse.query(
            f"select batch_id, sync_run_id, changes from {OUTBOX} where destination = ? and audience = ?"
            f" order by created_at, batch_id", (self.destination.name, audience))
        for row in frame.itertuples():
            changes = [Change(**item) for item in json.loads(row.changes)]
            attempts = self._previous_attempts(row.batch_id)
            operation = "remove" if changes and changes[0].operation == "remove" else "upsert"
            results = self._deliver(audience, operation, changes, row.batch_id, report, recovered=True)
            self._apply(row.sync_run_id, audience, row.batch_id, changes, attempts, results, report, recovered=True)
            report.recovered_batches += 1

    def _audit_batch(self, run_id: str, audience: str, key: str, changes: Sequence[Change], *, recovered: bool,
                     outcome: Mapping[str, RecordResult] | None = None, attempts: Mapping[str, int] | None = None,
                     error: str | None = None) -> None:
        """One `activation.batch` event: where the batch went and how many of its records each way
        (no customer id: the ledger holds those)."""
        detail: dict[str, Any] = {
            "destination": self.destination.name, "audience": audience, "batch_id": key,
            "operation": "remove" if changes and changes[0].operation == "remove" else "upsert",
            "operations": dict(sorted(Counter(c.operation for c in changes).items())),
            "records": len(changes), "sync_run_id": run_id, "recovered": recovered}
        if error is not None:
            detail.update(status="error", error=error, succeeded=0, failed=len(changes), dead=0)
        else:
            if outcome is None or attempts is None:
                raise SyncError("an acknowledged batch is audited with its outcome and attempts")
            ok = sum(1 for c in changes if outcome[c.customer_id].ok)
            dead = sum(1 for c in changes if not outcome[c.customer_id].ok
                       and attempts.get(c.customer_id, 0) + 1 >= self.max_attempts)
            detail.update(status="sent", succeeded=ok, failed=len(changes) - ok, dead=dead)
        audit.record(self.warehouse, "activation.batch", subject_type="destination", subject_id=self.destination.name,
                     detail=detail, actor=self.actor, run_id=run_id, now=self.now())

    def _previous_attempts(self, key: str) -> dict[str, int]:
        """customer id -> failed attempts before the pending one of an interrupted batch."""
        frame = self.warehouse.query(f"select customer_id, attempt from {LEDGER} where batch_id = ? and status = 'pending'",
                                     (key,))
        return {customer_id: int(attempt) - 1 for customer_id, attempt in zip(frame["customer_id"], frame["attempt"])}

    def _ledger_rows(self, run_id: str, audience: str, key: str, changes: Sequence[Change], status: str | None,
                     attempts: Mapping[str, int], outcome: Mapping[str, RecordResult], now: datetime) -> pd.DataFrame:
        rows = []
        for change in changes:
            attempt = attempts.get(change.customer_id, 0) + 1
            result = outcome.get(change.customer_id)
            if status is not None:
                record_status, error = status, None
            elif result is not None and result.ok:
                record_status, error = "sent", None
            else:
                record_status = "dead" if attempt >= self.max_attempts else "failed"
                error = result.error if result is not None else "no answer"
            acknowledgement = result.acknowledgement if result is not None and status is None else None
            rows.append({"sync_run_id": run_id, "destination": self.destination.name, "audience": audience,
                         "customer_id": change.customer_id, "operation": change.operation,
                         "payload_hash": change.payload_hash, "batch_id": key, "status": record_status,
                         "attempt": attempt, "error": error, "reason": change.reason, "recorded_at": now,
                         "acknowledgement": None if acknowledgement is None
                         else json.dumps(canonical(acknowledgement), sort_keys=True)})
        return pd.DataFrame(rows)

    def _begin(self) -> None:
        self.warehouse.execute("begin transaction")

    def _commit(self) -> None:
        self.warehouse.execute("commit")

    def _rollback(self) -> None:
        self.warehouse.execute("rollback")


_COUNTER = {"add": "added", "update": "updated", "remove": "removed"}


def _held_now(change: Change, result: RecordResult) -> dict[str, str]:
    """The state row's hash and fields after an acknowledged add or update."""
    if result.fields is None:
        return {"payload_hash": change.payload_hash, "sent_fields": json.dumps(change.fields, sort_keys=True)}
    fields = canonical(result.fields)
    return {"payload_hash": _digest(fields), "sent_fields": json.dumps(fields, sort_keys=True)}
