"""Privacy requests: forget a person (right to be forgotten), or suppress them (keep, never send).

A deletion request names the person by any identifier (`people.resolve`). Taking it:

1. records tombstones: the SHA-256 hashes of every identifier and source record of theirs, so
   every later load drops their rows before they reach raw (`dlt_sources.tombstones`);
2. records the request and its steps in `governance.privacy_requests` and
   `governance.privacy_request_steps`, with nothing personal: the subject is the hash of the
   customer id, a step's target a destination and audience, or a CRM contact id;
3. `process` then carries out every step not yet done, in order, and again at each call
   until all are done (a destination that is down is retried at the next call, and nothing
   else waits for it):
   - `destination`: each audience of each destination that holds them gets a removal with
     reason `erased` through the sync engine (outbox, idempotency key, ledger): the email
     platform deletes the member for good, the ad platform removes the hashed identifiers,
     a webhook receiver is told to forget them;
   - `crm`: each CRM contact of theirs is deleted with the CRM's GDPR delete;
   - `packages`: dlt's archive of loaded packages (which holds copies of loaded rows) is
     emptied; a package still waiting to load fails the step (and holds back the next one);
   - `warehouse`: the sweep deletes their rows from every table of every zone (raw, dlt's
     staging datasets, clean, curated, quarantine, snapshots, the CRM sync's state), but the
     activation schema, which the destination steps still need;
   - `landing`: their lines are cut out of the landing files they arrived in;
   - `activation`: once every destination step is done, their rows in the activation schema
     (destination state, ledger, outbox, membership history, suppression) go too.
   - `compact` (an embedded DuckDB only): DuckDB keeps the bytes of deleted rows in its file
     until the file is rewritten. The caller does it once every other step is done
     (`awaiting_compaction`, then `compact_duckdb` with no connection open, then
     `record_compaction`).
Every step that ends (done, or failed with its error) is an audit event; so are the request
and its completion.

A suppression request keeps the data and adds the person to `activation.suppressions`: every
activation and the CRM push leave them out, and destinations that hold them remove them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from activations.engine import SCHEMA as ACTIVATION, STATE, SyncEngine
from activations.governance import audit, tombstones
from activations.governance.people import Person
from activations.governance.redaction import scrub
from activations.governance.sweep import Needles, SweepReport, purge
from expectations.warehouse import transaction

SCHEMA = audit.SCHEMA
REQUESTS = f"{SCHEMA}.privacy_requests"
STEPS = f"{SCHEMA}.privacy_request_steps"
SUPPRESSIONS = f"{ACTIVATION}.suppressions"
STEP_ORDER = ("destination", "crm", "packages", "warehouse", "landing", "activation", "compact")
# The sweep leaves these schemas alone: governance holds hashes only; activation waits for the
# destination steps, which need its rows to know what each destination holds.
SWEEP_EXCLUDES = (SCHEMA, ACTIVATION)

DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {REQUESTS} (
        request_id varchar not null primary key,
        kind varchar not null,
        subject_hash varchar not null,
        customer_hashes varchar not null,
        identifier_type varchar not null,
        requested_at timestamp with time zone not null,
        requested_by varchar not null,
        status varchar not null,
        completed_at timestamp with time zone
    )""",
    f"""create table if not exists {STEPS} (
        request_id varchar not null,
        step varchar not null,
        target varchar not null,
        status varchar not null,
        attempts integer not null,
        last_error varchar,
        rows_deleted bigint,
        updated_at timestamp with time zone not null,
        primary key (request_id, step, target)
    )""",
)



class PrivacyRequestError(ValueError):
    """A request that cannot be taken (a suppression of someone suppressed already, ...)."""


def ensure_tables(warehouse: Any) -> None:
    audit.ensure_tables(warehouse)
    for statement in DDL:
        warehouse.execute(statement)


@dataclass
class RequestPlan:
    """What a request does (or, as a dry run, would do)."""

    kind: str
    customer_id: str
    request_id: str | None
    destinations: list[tuple[str, str]]  # (destination, audience) holding them
    crm_contacts: list[str]
    rows: dict[str, int] = field(default_factory=dict)  # schema.table -> rows
    tombstones: int = 0
    dry_run: bool = False

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class StepOutcome:
    request_id: str
    step: str
    target: str
    status: str  # done | failed
    error: str | None = None
    rows: int | None = None


# -- taking a request ------------------------------------------------------------------------


def request_deletion(warehouse: Any, person: Person, *, identifier_type: str, actor: str, now: datetime,
                     dry_run: bool = False, default_region: str = "US") -> RequestPlan:
    """Plans the deletion; unless `dry_run`, records its tombstones, request and steps (in one
    transaction). Nothing is deleted until `process`."""
    ensure_tables(warehouse)
    destinations = held_by(warehouse, person.customer_ids)
    contacts = crm_contacts(warehouse, person)
    # what the warehouse and activation steps will delete between them: one pass over every schema but governance
    rows = purge(warehouse, Needles.of(person, crm_contacts=contacts), exclude=(SCHEMA,), dry_run=True,
                 default_region=default_region).rows
    plan = RequestPlan("delete", person.customer_id, None, destinations, contacts, rows=rows, dry_run=dry_run)
    graves = tombstones.for_person(person)
    plan.tombstones = len(graves)
    if dry_run:
        return plan
    request_id = f"del_{uuid.uuid4().hex[:16]}"
    plan.request_id = request_id
    steps = [("destination", f"{d}/{a}") for d, a in destinations] + [("crm", c) for c in contacts]
    steps += [(name, "*") for name in ("warehouse", "landing", "packages", "activation")]
    if getattr(warehouse, "dialect", "") == "duckdb":
        steps.append(("compact", "*"))  # done by the caller, which must close its connection first
    with transaction(warehouse):
        tombstones.add(warehouse, graves, request_id=request_id, now=now)
        _insert_request(warehouse, request_id, "delete", person, identifier_type, actor, now)
        warehouse.insert_frame(STEPS, pd.DataFrame([
            {"request_id": request_id, "step": step, "target": target, "status": "pending", "attempts": 0,
             "last_error": None, "rows_deleted": None, "updated_at": now} for step, target in steps]))
        audit.record(warehouse, "privacy.deletion_requested", subject_type="customer",
                     subject_id=audit.hash_identifier(person.customer_id),
                     detail={"request_id": request_id, "identifier_type": identifier_type,
                             "destinations": [f"{d}/{a}" for d, a in destinations], "crm_contacts": len(contacts),
                             "rows": plan.total_rows, "tombstones": len(graves)},
                     actor=actor, now=now)
    return plan


def request_suppression(warehouse: Any, person: Person, *, identifier_type: str, actor: str, now: datetime,
                        reason: str, dry_run: bool = False) -> RequestPlan:
    """Keeps their data and never activates them again: every customer id of theirs goes into
    `activation.suppressions`; destinations that hold them remove them at their next sync."""
    from activations.runner import ensure_tables as ensure_activation_tables

    ensure_tables(warehouse)
    ensure_activation_tables(warehouse)
    if not reason.strip():
        raise PrivacyRequestError("a suppression needs a reason")
    already = suppressed(warehouse, person.customer_ids)
    if person.customer_id in already:
        raise PrivacyRequestError(f"{person.customer_id} is suppressed already")
    plan = RequestPlan("suppress", person.customer_id, None, held_by(warehouse, person.customer_ids), [],
                       dry_run=dry_run)
    if dry_run:
        return plan
    request_id = f"sup_{uuid.uuid4().hex[:16]}"
    plan.request_id = request_id
    with transaction(warehouse):
        warehouse.insert_frame(SUPPRESSIONS, pd.DataFrame(
            [{"customer_id": c, "reason": reason, "suppressed_at": now}
             for c in person.customer_ids if c not in already]))
        _insert_request(warehouse, request_id, "suppress", person, identifier_type, actor, now, status="done")
        audit.record(warehouse, "privacy.suppression", subject_type="customer",
                     subject_id=audit.hash_identifier(person.customer_id),
                     detail={"request_id": request_id, "identifier_type": identifier_type,
                             "destinations": [f"{d}/{a}" for d, a in plan.destinations]},
                     actor=actor, now=now)
    return plan


def suppressed(warehouse: Any, customer_ids: Iterable[str]) -> set[str]:
    ids = sorted(set(customer_ids))
    if not ids or not warehouse.table_exists(ACTIVATION, "suppressions"):
        return set()
    frame = warehouse.query(f"select customer_id from {SUPPRESSIONS} where customer_id in ({_marks(ids)})", ids)
    return set(frame["customer_id"].astype(str))


def held_by(warehouse: Any, customer_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(destination, audience) pairs whose destination holds any of `customer_ids`."""
    ids = sorted(set(customer_ids))
    if not ids or not warehouse.table_exists(ACTIVATION, "destination_state"):
        return []
    frame = warehouse.query(f"select distinct destination, audience from {STATE} where customer_id in ({_marks(ids)})"
                            " order by 1, 2", ids)
    return [(str(d), str(a)) for d, a in frame.itertuples(index=False)]


def crm_contacts(warehouse: Any, person: Person) -> list[str]:
    """The person's CRM contacts: those the identity graph resolved to them and those the CRM
    push created or chose for them (its state in the activation schema, destination `crm`)."""
    from activations.crm.config import CONTACT_ID

    contacts = set(person.identifier_values("crm_contact_id"))
    if warehouse.table_exists(ACTIVATION, "destination_state"):
        ids = list(person.customer_ids)
        frame = warehouse.query(f"select sent_fields from {STATE} where destination = 'crm'"
                                f" and customer_id in ({_marks(ids)})", ids)
        for fields in frame["sent_fields"]:
            value = (json.loads(fields) if isinstance(fields, str) else fields or {}).get(CONTACT_ID)
            if value not in (None, ""):
                contacts.add(str(value))
    return sorted(contacts, key=lambda c: (len(c), c))


def _insert_request(warehouse: Any, request_id: str, kind: str, person: Person, identifier_type: str, actor: str,
                    now: datetime, status: str = "pending") -> None:
    warehouse.insert_frame(REQUESTS, pd.DataFrame([{
        "request_id": request_id, "kind": kind, "subject_hash": audit.hash_identifier(person.customer_id),
        "customer_hashes": " ".join(sorted(audit.hash_identifier(c) for c in person.customer_ids)),
        "identifier_type": identifier_type, "requested_at": now, "requested_by": actor, "status": status,
        "completed_at": now if status == "done" else None}]))


# -- carrying it out -------------------------------------------------------------------------


@dataclass
class Executors:
    """What `process` needs from outside the warehouse; the orchestration layer builds it."""

    destination: Callable[[str], Any]  # destination name -> a client the sync engine can send with
    crm: Callable[[], Any] | None  # -> a CRM client with gdpr_delete(contact_id), or None: no CRM
    landing_dir: Path | None = None
    pipelines_dir: Path | None = None
    scrub: Callable[[Path, frozenset[str]], int] | None = None  # landing file, tombstone hashes -> records cut
    default_region: str = "US"


def pending(warehouse: Any) -> pd.DataFrame:
    """Requests not done yet with their open steps."""
    ensure_tables(warehouse)
    return warehouse.query(
        f"select r.request_id, s.step, s.target, s.status, s.attempts, s.last_error from {REQUESTS} r"
        f" join {STEPS} s on s.request_id = r.request_id where r.status = 'pending' and s.status <> 'done'"
        " order by r.requested_at, r.request_id")


def process(warehouse: Any, executors: Executors, *, actor: str, now: Callable[[], datetime],
            run_id: str | None = None) -> list[StepOutcome]:
    """Runs every open step of every pending deletion once, in order. A failed step is recorded
    with its error and tried again at the next call; the request is done when all steps are."""
    ensure_tables(warehouse)
    outcomes: list[StepOutcome] = []
    requests = warehouse.query(f"select request_id from {REQUESTS}"
                               " where kind = 'delete' and status = 'pending' order by requested_at, request_id")
    for request_id in requests["request_id"].astype(str):
        outcomes += _process_request(warehouse, request_id, executors, actor=actor, now=now, run_id=run_id)
    return outcomes


def _process_request(warehouse: Any, request_id: str, executors: Executors, *, actor: str,
                     now: Callable[[], datetime], run_id: str | None) -> list[StepOutcome]:
    steps = warehouse.query(f"select step, target, status from {STEPS} where request_id = ?", (request_id,))
    order = {name: index for index, name in enumerate(STEP_ORDER)}
    rows = sorted(steps.itertuples(index=False), key=lambda r: (order[r.step], r.target))
    person = _person_of_request(warehouse, request_id)
    outcomes = []
    for step in rows:
        if step.status == "done" or step.step == "compact":
            continue
        if step.step == "activation" and _open(warehouse, request_id, "destination"):
            continue  # the destinations still need the activation rows to know what they hold
        if step.step == "warehouse" and _open(warehouse, request_id, "packages"):
            continue  # a load package still waiting could bring their rows back after the sweep
        try:
            deleted = _run_step(warehouse, step.step, step.target, person, executors, run_id or request_id, now)
        except Exception as error:  # recorded, retried at the next call
            outcome = StepOutcome(request_id, step.step, step.target, "failed",
                                  _scrub(str(error) or type(error).__name__))
        else:
            outcome = StepOutcome(request_id, step.step, step.target, "done", rows=deleted)
        _record_step(warehouse, outcome, actor=actor, now=now(), run_id=run_id)
        outcomes.append(outcome)
    if not _open(warehouse, request_id, None):
        _complete(warehouse, request_id, actor=actor, now=now(), run_id=run_id)
    return outcomes


@dataclass(frozen=True)
class _Subject:
    """What the steps know of the person once the warehouse may have forgotten them: their
    customer ids (kept, until the activation step, in the destination state) and tombstones."""

    customer_ids: tuple[str, ...]
    hashes: frozenset[str]
    crm_contacts: tuple[str, ...] = ()


def _person_of_request(warehouse: Any, request_id: str) -> _Subject:
    """Their customer ids are found by their hashes (all the request keeps) among the ids the
    warehouse still holds."""
    frame = warehouse.query(f"select customer_hashes from {REQUESTS} where request_id = ?", (request_id,))
    wanted = set(str(frame.iloc[0, 0]).split())
    known: set[str] = set()
    for schema, name in (("activation", "destination_state"), ("identity", "customer_id_lookup"),
                         ("activation", "suppressions"), ("crm_sync", "deleted_contacts")):
        if warehouse.table_exists(schema, name):
            known |= set(warehouse.query(f"select distinct customer_id from {schema}.{name}")["customer_id"].astype(str))
    ids = tuple(sorted(c for c in known if audit.hash_identifier(c) in wanted))
    contacts = warehouse.query(f"select target from {STEPS} where request_id = ? and step = 'crm'", (request_id,))
    return _Subject(ids, frozenset(tombstones.hashes(warehouse)), tuple(contacts["target"].astype(str)))


def awaiting_compaction(warehouse: Any) -> list[str]:
    """Deletion requests whose only open step is the file rewrite."""
    ensure_tables(warehouse)
    frame = warehouse.query(
        f"select request_id from {STEPS} group by request_id"
        " having sum(case when status <> 'done' and step <> 'compact' then 1 else 0 end) = 0"
        " and sum(case when status <> 'done' and step = 'compact' then 1 else 0 end) > 0 order by request_id")
    return [str(r) for r in frame["request_id"]]


def record_compaction(warehouse: Any, request_ids: Iterable[str], *, error: str | None, actor: str, now: datetime,
                      run_id: str | None = None) -> None:
    """Records the file rewrite of `request_ids` (failed when `error`), completing them when done."""
    for request_id in request_ids:
        outcome = StepOutcome(request_id, "compact", "*", "failed" if error else "done", _scrub(error) if error else None)
        _record_step(warehouse, outcome, actor=actor, now=now, run_id=run_id)
        if not error:
            _complete(warehouse, request_id, actor=actor, now=now, run_id=run_id)


def _complete(warehouse: Any, request_id: str, *, actor: str, now: datetime, run_id: str | None) -> None:
    warehouse.execute(f"update {REQUESTS} set status = 'done', completed_at = ? where request_id = ?", (now, request_id))
    audit.record(warehouse, "privacy.deletion_completed", subject_type="privacy_request", subject_id=request_id,
                 detail={"request_id": request_id}, actor=actor, run_id=run_id, now=now)


def _run_step(warehouse: Any, step: str, target: str, subject: _Subject, executors: Executors, run_id: str,
              now: Callable[[], datetime]) -> int | None:
    if step == "destination":
        destination, audience = target.split("/", 1)
        client = executors.destination(destination)
        engine = SyncEngine(warehouse, client, now=now)
        report = engine.sync(audience, {}, mode="upsert", run_id=run_id, erased=subject.customer_ids)
        still = [c for c in subject.customer_ids if c in engine.acknowledged(audience)]
        if still:
            raise RuntimeError(f"{destination} still holds {len(still)} of their records in {audience}"
                               f" ({report.failed} failed, {report.dead} dead)")
        return report.removed
    if step == "crm":
        if executors.crm is None:
            raise RuntimeError("no CRM is configured to delete the contact from")
        executors.crm().gdpr_delete(target)
        return 1
    if step == "warehouse":
        return _sweep(warehouse, subject, exclude=SWEEP_EXCLUDES, region=executors.default_region).total
    if step == "activation":
        return _sweep(warehouse, subject, exclude=_all_but(warehouse, ACTIVATION), region=executors.default_region).total
    if step == "landing":
        if executors.landing_dir is None or executors.scrub is None:
            return 0
        return sum(executors.scrub(path, subject.hashes) for path in landing_files(executors.landing_dir))
    if step == "packages":
        return _empty_load_archive(executors.pipelines_dir)
    raise ValueError(f"unknown privacy request step {step!r}")


def _sweep(warehouse: Any, subject: _Subject, *, exclude: Iterable[str], region: str) -> SweepReport:
    """The warehouse rows of the subject. The identity graph may have forgotten them already
    (a retried step), so the needles are rebuilt from what is left: the customer ids, plus the
    identifiers and records still resolved to them."""
    from activations.governance.people import Identifier

    ids = list(subject.customer_ids)
    identifiers: tuple[Identifier, ...] = ()
    records: tuple[tuple[str, str, str], ...] = ()
    if ids and warehouse.table_exists("identity", "customer_identifiers"):
        frame = warehouse.query("select distinct identifier_type, identifier_value from identity.customer_identifiers"
                                f" where customer_id in ({_marks(ids)})", ids)
        identifiers = tuple(Identifier(str(t), str(v)) for t, v in frame.itertuples(index=False))
        frame = warehouse.query("select distinct source_name, table_name, record_key from identity.customer_records"
                                f" where customer_id in ({_marks(ids)})", ids)
        records = tuple((str(s), str(t), str(k)) for s, t, k in frame.itertuples(index=False))
    person = Person(ids[0] if ids else "", "deleted", tuple(ids), identifiers, records)
    with transaction(warehouse):
        return purge(warehouse, Needles.of(person, crm_contacts=subject.crm_contacts), exclude=exclude,
                     default_region=region)


def landing_files(landing_dir: Path) -> list[Path]:
    """The data files of the landing folders (`<landing>/<source>/...`); a list's YAML mapping
    beside its CSV holds no one's data."""
    return sorted(p for p in Path(landing_dir).rglob("*") if p.is_file() and p.suffix in (".jsonl", ".csv", ".json"))


def _empty_load_archive(pipelines_dir: Path | None) -> int:
    """Deletes the data files of dlt's loaded packages (its archive of every load: copies of
    the rows). A package still waiting to load fails the step: it may hold the person's rows
    from before the tombstones, so it must be loaded (and swept) or dropped first."""
    if pipelines_dir is None or not Path(pipelines_dir).exists():
        return 0
    removed = 0
    for pipeline in Path(pipelines_dir).iterdir():
        for waiting in ("normalize/extracted", "load/normalized", "load/new"):
            folder = pipeline / waiting
            if folder.is_dir() and any(p.is_dir() for p in folder.iterdir()):
                raise RuntimeError(f"the dlt pipeline {pipeline.name} has a package waiting in {waiting}:"
                                   " finish its load (or drop it) so its rows can be swept")
        loaded = pipeline / "load" / "loaded"
        if not loaded.is_dir():
            continue
        for jobs in loaded.glob("*/completed_jobs"):
            for job in jobs.iterdir():
                if job.is_file():
                    job.unlink()
                    removed += 1
                elif job.is_dir():
                    shutil.rmtree(job)
                    removed += 1
    return removed


def _open(warehouse: Any, request_id: str, step: str | None) -> bool:
    clause, params = ("", [request_id]) if step is None else (" and step = ?", [request_id, step])
    frame = warehouse.query(f"select count(*) as n from {STEPS} where request_id = ? and status <> 'done'{clause}",
                            params)
    return int(frame.iloc[0, 0]) > 0


def _record_step(warehouse: Any, outcome: StepOutcome, *, actor: str, now: datetime, run_id: str | None) -> None:
    warehouse.execute(
        f"update {STEPS} set status = ?, attempts = attempts + 1, last_error = ?, rows_deleted = ?, updated_at = ?"
        " where request_id = ? and step = ? and target = ?",
        (outcome.status, outcome.error, outcome.rows, now, outcome.request_id, outcome.step, outcome.target))
    audit.record(warehouse, f"privacy.deletion_step_{outcome.status}", subject_type="privacy_request",
                 subject_id=outcome.request_id,
                 detail={"step": outcome.step, "target": outcome.target, "rows": outcome.rows, "error": outcome.error},
                 actor=actor, run_id=run_id, now=now)


def _scrub(text: str) -> str:
    """An error message without emails or phone numbers (a destination may echo what it was sent)."""
    return scrub(text)[:500]


def _all_but(warehouse: Any, schema: str) -> list[str]:
    frame = warehouse.query("select distinct table_schema from information_schema.tables")
    return [str(s) for s in frame["table_schema"] if str(s) != schema]


def _marks(values: list[Any]) -> str:
    return ", ".join("?" for _ in values)


# -- after a deletion -----------------------------------------------------------------------


def compact_duckdb(path: Path | str) -> int:
    """Rewrites a DuckDB file so the bytes of deleted rows leave it (DuckDB reuses freed blocks
    but does not clear them). Needs the file to itself: no other connection may be open.
    Returns the new size in bytes."""
    import duckdb

    path = Path(path)
    stem = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    compacted = path.with_name(f"{stem}__compacting.duckdb")
    compacted.unlink(missing_ok=True)
    source = duckdb.connect(str(path))
    source.execute("checkpoint")
    source.close()
    target = duckdb.connect(str(compacted))
    try:
        target.execute(f"attach '{path}' as cdp_source (read_only)")
        target.execute(f'copy from database cdp_source to "{compacted.stem}"')
        target.execute("detach cdp_source")
        target.execute("checkpoint")
    finally:
        target.close()
    os.replace(compacted, path)
    wal = path.with_name(path.name + ".wal")
    wal.unlink(missing_ok=True)
    return path.stat().st_size

