"""Audit events of governed changes the platform finds by comparing runs, and the audited quarantine release.

Each function appends to the audit log (`activations.governance.audit`) and keeps, in a
`governance` table, what it has already audited, so that a change is recorded once:

- `audit_identity_events`: one `identity.merge` or `identity.split` per new row of
  `identity.identity_merge_history` (the rows audited are kept in
  `governance.audited_identity_events` by the history's event id);
- `audit_consent_changes`: one `consent.change` per customer and channel whose current status
  in `profiles.customer_consent` differs from the last one audited
  (`governance.consent_audit_state`, keyed by the hashed customer id);
- `audit_config_files`: one `config.change` per governed configuration file whose content hash
  differs from the last one seen (`governance.config_versions`); the first sight of a file is
  recorded too, with no old hash;
- `release_quarantine`: releases quarantined rows and records one `quarantine.release`, in one
  transaction.

Person-level events have subject type `customer` and subject id `hash_identifier(customer_id)`:
the log keeps nothing that names a person, and a known id can still be looked up by hashing it.
The activation engine records `activation.batch` itself (activations/engine.py).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from activations.governance import audit
from activations.governance.audit import Event, hash_identifier
from expectations.warehouse import transaction

SCHEMA = audit.SCHEMA
AUDITED_IDENTITY = f"{SCHEMA}.audited_identity_events"
CONSENT_STATE = f"{SCHEMA}.consent_audit_state"
CONFIG_VERSIONS = f"{SCHEMA}.config_versions"
MERGE_HISTORY = ("identity", "identity_merge_history")
CONSENT = ("profiles", "customer_consent")
STATUSES = ("granted", "denied", "blocked", "unknown")

DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {AUDITED_IDENTITY} (
        event_id varchar not null primary key,
        audit_event_id varchar not null,
        audited_at timestamp with time zone not null
    )""",
    f"""create table if not exists {CONSENT_STATE} (
        subject_id varchar not null,
        channel varchar not null,
        status varchar not null,
        audited_at timestamp with time zone not null,
        primary key (subject_id, channel)
    )""",
    f"""create table if not exists {CONFIG_VERSIONS} (
        name varchar not null primary key,
        path varchar not null,
        content_hash varchar not null,
        key_hashes varchar not null,
        seen_at timestamp with time zone not null
    )""",
)


def ensure_tables(warehouse: Any) -> None:
    audit.ensure_tables(warehouse)
    for statement in DDL:
        warehouse.execute(statement)


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    return now


# -- merges and splits ----------------------------------------------------------------------


def audit_identity_events(warehouse: Any, *, actor: str = audit.SYSTEM, run_id: str | None = None,
                          now: datetime | None = None) -> dict[str, int]:
    """Records each merge/split of identity_merge_history not audited yet; returns events per action.

    Nothing happens (an empty result) while the history table is not built."""
    now = _now(now)
    ensure_tables(warehouse)
    if not warehouse.table_exists(*MERGE_HISTORY):
        return {}
    history = ".".join(MERGE_HISTORY)
    rows = warehouse.query(
        f"select h.event_id, h.event_type, h.old_customer_id, h.new_customer_id, h.reason, h.evidence_links,"
        f" h.occurred_at, h.run_id from {history} as h"
        f" where not exists (select 1 from {AUDITED_IDENTITY} as a where a.event_id = h.event_id)"
        f" order by h.occurred_at, h.event_id")
    if rows.empty:
        return {}
    events = []
    for row in rows.itertuples(index=False):
        if row.event_type not in ("merge", "split"):
            raise ValueError(f"{history} event {row.event_id}: unknown event_type {row.event_type!r}"
                             " (expected merge or split)")
        events.append(Event(f"identity.{row.event_type}", "customer", hash_identifier(str(row.old_customer_id)), {
            "merge_history_event_id": str(row.event_id),
            "old_customer": hash_identifier(str(row.old_customer_id)),
            "new_customer": hash_identifier(str(row.new_customer_id)),
            "reason": str(row.reason),
            "evidence_links": int(row.evidence_links),
            "identity_run_id": str(row.run_id),
            "occurred_at": pd.Timestamp(row.occurred_at).isoformat(),
        }))
    with transaction(warehouse):
        ids = audit.record_many(warehouse, events, actor=actor, run_id=run_id, now=now)
        warehouse.insert_frame(AUDITED_IDENTITY, pd.DataFrame({
            "event_id": [str(e) for e in rows["event_id"]], "audit_event_id": ids, "audited_at": [now] * len(ids)}))
    return dict(sorted(Counter(event.action for event in events).items()))


# -- consent ------------------------------------------------------------------------------


@dataclass
class ConsentAudit:
    built: bool = True  # False: customer_consent does not exist yet, nothing was audited
    customers: int = 0  # customers in customer_consent
    changes: int = 0
    transitions: Counter = field(default_factory=Counter)  # (channel, from, to) -> events

    def table(self) -> list[tuple[str, str, str, int]]:
        return [(channel, before or "(first audit)", after, n)
                for (channel, before, after), n in sorted(self.transitions.items(), key=lambda item: str(item[0]))]


def audit_consent_changes(warehouse: Any, *, actor: str = audit.SYSTEM, run_id: str | None = None,
                          now: datetime | None = None) -> ConsentAudit:
    """Records a `consent.change` for each customer and channel whose status differs from the last audited.

    A customer and channel seen for the first time is a change when its status is anything but
    `unknown` (from null: never audited). The state kept is the hashed customer id, channel and
    status. Nothing happens (`built` false) while customer_consent is not built."""
    now = _now(now)
    ensure_tables(warehouse)
    if not warehouse.table_exists(*CONSENT):
        return ConsentAudit(built=False)
    current = warehouse.query(f"select customer_id, channel, status, signal_source, signal_type"
                              f" from {'.'.join(CONSENT)}")
    report = ConsentAudit(customers=int(current["customer_id"].nunique()))
    unknown = sorted(set(current["status"]) - set(STATUSES))
    if unknown:
        raise ValueError(f"{'.'.join(CONSENT)} holds unknown status(es) {unknown} (expected {', '.join(STATUSES)})")
    state = warehouse.query(f"select subject_id, channel, status from {CONSENT_STATE}")
    last = {(s, c): status for s, c, status in zip(state["subject_id"], state["channel"], state["status"])}
    events, updates = [], []
    for customer_id, channel, status, source, signal_type in zip(
            current["customer_id"], current["channel"], current["status"], current["signal_source"],
            current["signal_type"]):
        subject = hash_identifier(str(customer_id))
        before = last.get((subject, channel))
        if before == status or (before is None and status == "unknown"):
            if before is None:
                updates.append((subject, channel, status))
            continue
        updates.append((subject, channel, status))
        events.append(Event("consent.change", "customer", subject, {
            "channel": channel, "from_status": before, "to_status": status,
            "signal_source": _text(source), "signal_type": _text(signal_type)}))
        report.transitions[(channel, before, status)] += 1
    report.changes = len(events)
    if not updates:
        return report
    frame = pd.DataFrame(updates, columns=["subject_id", "channel", "status"])
    with transaction(warehouse):
        audit.record_many(warehouse, events, actor=actor, run_id=run_id, now=now)
        warehouse.stage_keys("_consent_audited", frame[["subject_id", "channel"]])
        warehouse.execute(f"delete from {CONSENT_STATE} where subject_id || ':' || channel in"
                          f" (select subject_id || ':' || channel from _consent_audited)")
        warehouse.insert_frame(CONSENT_STATE, frame.assign(audited_at=now))
    return report


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


# -- configuration files ------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigChange:
    name: str
    path: str
    old_hash: str | None
    new_hash: str
    changed_keys: tuple[str, ...]  # top-level keys added, removed or changed
    changed_paths: tuple[str, ...]  # `<top>.<second>` keys added, removed or changed under a changed top-level key


def config_fingerprint(path: Path, name: str) -> tuple[str, dict[str, str]]:
    """The file's SHA-256 and a hash per top-level and second-level key (`top`, `top.second`)."""
    try:
        content = Path(path).read_bytes()
    except FileNotFoundError:
        raise ValueError(f"governed configuration file {name!r} not found: {path}") from None
    try:
        document = yaml.safe_load(content) if content.strip() else {}
    except yaml.YAMLError as error:
        raise ValueError(f"governed configuration file {name!r} ({path}) is not valid YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise ValueError(f"governed configuration file {name!r} ({path}) must hold a mapping at the top,"
                         f" got {type(document).__name__}")
    keys: dict[str, str] = {}
    for key, value in document.items():
        keys[str(key)] = _value_hash(value)
        if isinstance(value, Mapping):
            for child, inner in value.items():
                keys[f"{key}{_SEP}{child}"] = _value_hash(inner)
    return hashlib.sha256(content).hexdigest(), keys


_SEP = "\x1f"  # between a top-level and a second-level key in the stored key hashes


def _value_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def audit_config_files(warehouse: Any, files: Mapping[str, Path], *, actor: str = audit.SYSTEM,
                       run_id: str | None = None, now: datetime | None = None) -> list[ConfigChange]:
    """Records a `config.change` for each file (name -> path) whose content changed since last seen, or
    never seen. Every file is read and checked before anything is written."""
    now = _now(now)
    if not files:
        raise ValueError("no governed configuration files given")
    fingerprints = {name: (str(path), *config_fingerprint(path, name)) for name, path in files.items()}
    ensure_tables(warehouse)
    seen = warehouse.query(f"select name, content_hash, key_hashes from {CONFIG_VERSIONS}")
    last = {name: (digest, json.loads(keys)) for name, digest, keys in
            zip(seen["name"], seen["content_hash"], seen["key_hashes"])}
    changes = []
    for name, (path, digest, keys) in sorted(fingerprints.items()):
        old_hash, old_keys = last.get(name, (None, {}))
        if old_hash == digest:
            continue
        differ = sorted(k for k in set(keys) | set(old_keys) if keys.get(k) != old_keys.get(k))
        top = tuple(k for k in differ if _SEP not in k)
        paths = tuple(k.replace(_SEP, ".") for k in differ
                      if _SEP in k and k.split(_SEP, 1)[0] in keys and k.split(_SEP, 1)[0] in old_keys)
        changes.append(ConfigChange(name, path, old_hash, digest, top, paths))
    if not changes:
        return []
    events = [Event("config.change", "config_file", change.name, {
        "file": change.name, "path": change.path, "old_hash": change.old_hash, "new_hash": change.new_hash,
        "changed_keys": list(change.changed_keys), "changed_paths": list(change.changed_paths)})
        for change in changes]
    frame = pd.DataFrame([{"name": c.name, "path": c.path, "content_hash": c.new_hash,
                           "key_hashes": json.dumps(fingerprints[c.name][2], sort_keys=True), "seen_at": now}
                          for c in changes])
    with transaction(warehouse):
        audit.record_many(warehouse, events, actor=actor, run_id=run_id, now=now)
        warehouse.stage_keys("_config_seen", frame[["name"]])
        warehouse.execute(f"delete from {CONFIG_VERSIONS} where name in (select name from _config_seen)")
        warehouse.insert_frame(CONFIG_VERSIONS, frame)
    return changes


# -- quarantine release -------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseReport:
    entries: int
    rows: int
    by_table: tuple[tuple[str, str, str, int, int], ...]  # (source, table, reason, rows, entries)


def release_quarantine(warehouse: Any, selection: Any, *, by: str, note: str, actor: str,
                       run_id: str | None = None, now: datetime | None = None) -> ReleaseReport:
    """Releases the selected quarantine entries (expectations.quarantine.release) and records one
    `quarantine.release` (who, the note, counts by source, table and reason) in the same transaction.
    Nothing selected: nothing released, no event."""
    from expectations.quarantine import QUARANTINE, release, summary

    now = _now(now)
    if not (by or "").strip():
        raise ValueError("a quarantine release needs who released it (`by`)")
    if not (note or "").strip():
        raise ValueError("a quarantine release needs a note: the fix or rule change that makes these rows good")
    selection = replace(selection, include_released=False)
    audit.ensure_tables(warehouse)
    with transaction(warehouse):  # the counts audited are those of the entries released
        counts = summary(warehouse, selection)
        by_table = tuple((str(r.source), str(r.table_name), str(r.reason), int(r.rows), int(r.entries))
                         for r in counts.itertuples(index=False))
        total_rows = sum(t[3] for t in by_table)
        if not by_table:
            return ReleaseReport(0, 0, ())
        detail = {
            "released_by": by, "note": note, "rows": total_rows, "entries": sum(t[4] for t in by_table),
            "by_source_table_reason": [{"source": s, "table": t, "reason": r, "rows": n, "entries": e}
                                       for s, t, r, n, e in by_table],
            "selection": {"source": selection.source, "table": selection.table, "reason": selection.reason,
                          "expectation": selection.expectation, "load_id": selection.load_id,
                          "keys": len(selection.keys)},
        }
        audit.record(warehouse, "quarantine.release", subject_type="quarantine", subject_id=QUARANTINE,
                     detail=detail, actor=actor, run_id=run_id, now=now)
        entries = release(warehouse, selection, by=by, note=note, now=now)
    return ReleaseReport(entries, total_rows, by_table)
