"""The two-way CRM sync: what the pull saw (`reconcile`) and what the push sends (`push`).

The loop, each run: pull (dlt) -> `reconcile` -> staging, identity, profiles -> `push`.

`reconcile`, right after a pull, decides for every change the pull brought whether it was the
platform's own write coming back or an edit made in the CRM:

- a contact's modification is the platform's when its `updatedAt` is one the CRM answered to
  a push (kept in the activation ledger's `acknowledgement`); `crm_sync.contact_edits` keeps
  every modification with its origin, and staging reads the last one made in the CRM
  (`stg_crm__contacts.updated_at`; HubSpot's own date is `crm_updated_at`), so a push never
  moves "last seen", recency or consent times;
- a property's value is the platform's when it equals what the platform last wrote there
  (the sync state's acknowledged fields; values compared by their property type);
  `crm_sync.contact_field_history` keeps each value a synced property took, with its origin;
- a platform-owned property edited in the CRM is reported in `crm_sync.field_conflicts` and,
  like any property edited in the CRM, dropped from the sync state, so the push's diff sees
  it: `on_crm_edit: overwrite` writes the platform's value back, `keep` leaves the CRM's
  while the platform's own value stays what it was;
- contacts archived (deleted) in the CRM leave the sync state (the CRM no longer holds them)
  and are remembered in `crm_sync.deleted_contacts` with the customer they were, so the
  creation rule can refuse to make them again.

`push` builds one desired payload per customer (see `desired_contacts`) and hands it to the
activation sync engine (diff against the state, batches, retries, outbox, ledger) with the
`CrmDestination`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pandas as pd

from activations.crm.config import AUDIENCES_COLUMN, CONTACT_ID, CrmSyncConfig
from activations.engine import LEDGER, STATE, ConsentViolation, SyncEngine, SyncReport, _digest, canonical
from activations.runner import permitted
from activations.runner import ensure_tables as ensure_activation_tables

DESTINATION = "crm"
AUDIENCE = "contacts"  # the engine's audience: the CRM's contact object
SCHEMA = "crm_sync"
CONTACT_EDITS = f"{SCHEMA}.contact_edits"
FIELD_HISTORY = f"{SCHEMA}.contact_field_history"
CONFLICTS = f"{SCHEMA}.field_conflicts"
RECONCILES = f"{SCHEMA}.reconcile_runs"
DELETED_CONTACTS = f"{SCHEMA}.deleted_contacts"
RAW_SCHEMA = "raw_crm"
PROFILES = "profiles.customer_profiles"
RECORDS = "identity.customer_records"
STAGED_CONTACTS = "staging.stg_crm__contacts"
MEMBERS = "activation.audience_members"

DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {CONTACT_EDITS} (
        contact_id varchar not null,
        modified_at timestamp with time zone not null,
        origin varchar not null,
        recorded_at timestamp with time zone not null,
        primary key (contact_id, modified_at)
    )""",
    f"""create table if not exists {FIELD_HISTORY} (
        contact_id varchar not null,
        field varchar not null,
        value varchar,
        changed_at timestamp with time zone not null,
        origin varchar not null,
        recorded_at timestamp with time zone not null
    )""",
    f"""create table if not exists {CONFLICTS} (
        contact_id varchar not null,
        customer_id varchar,
        field varchar not null,
        platform_value varchar,
        crm_value varchar,
        crm_edited_at timestamp with time zone not null,
        detected_at timestamp with time zone not null,
        resolution varchar not null
    )""",
    f"""create table if not exists {RECONCILES} (
        run_id varchar not null,
        started_at timestamp with time zone not null,
        contacts integer not null,
        crm_edits integer not null,
        own_writes integer not null,
        conflicts integer not null,
        archived integer not null
    )""",
    f"""create table if not exists {DELETED_CONTACTS} (
        contact_id varchar not null primary key,
        customer_id varchar not null,
        detected_at timestamp with time zone not null
    )""",
)


def ensure_tables(warehouse: Any) -> None:
    for statement in DDL:
        warehouse.execute(statement)


# -- values ------------------------------------------------------------------------------------


def crm_value(value: Any, kind: str) -> str | None:
    """A value as the CRM holds it, in one canonical text per property type, so the platform's
    value and the CRM's compare equal when they mean the same (`12.50` and `12.5`, two spellings
    of one instant). None for no value (HubSpot's empty string included)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if kind == "number":
        try:
            number = float(value) if not isinstance(value, Decimal) else float(value)
        except (TypeError, ValueError):
            return str(value).strip() or None
        if not math.isfinite(number):
            return None
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(round(number, 6))
    if kind == "datetime":
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            try:
                value = int(text) if text.isdigit() else pd.Timestamp(text.replace("Z", "+00:00"))
            except ValueError:
                return text
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = pd.Timestamp(int(value), unit="ms", tz="UTC")
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    if kind == "bool":
        text = str(value).strip().lower()
        return None if not text else ("true" if text in ("true", "1", "yes") else "false")
    if hasattr(value, "item"):
        value = value.item()
    text = str(value)
    return text if text.strip() else None


def _time(value: Any) -> datetime | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


# -- reconcile (after each pull) ------------------------------------------------------------------


@dataclass
class ReconcileReport:
    contacts: int = 0
    crm_edits: int = 0  # contact modifications made in the CRM
    own_writes: int = 0  # modifications that were the platform's pushes coming back
    changed_values: int = 0  # synced property values that changed in the CRM
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # platform-owned fields edited in the CRM
    archived: int = 0  # contacts deleted in the CRM that the sync state held

    def counts(self) -> dict[str, int]:
        return {"contacts": self.contacts, "crm_edits": self.crm_edits, "own_writes": self.own_writes,
                "changed_values": self.changed_values, "conflicts": len(self.conflicts), "archived": self.archived}


def raw_contacts(warehouse: Any, config: CrmSyncConfig, archived: set[str]) -> pd.DataFrame:
    """The pulled contacts: id, created/updated times, archived (`archived`: archived_contact_ids),
    and each synced property (as text)."""
    columns = set(warehouse.columns(RAW_SCHEMA, "contacts")) if warehouse.table_exists(RAW_SCHEMA, "contacts") else set()
    if not columns:
        return pd.DataFrame(columns=["contact_id", "created_at", "updated_at", "archived", *config.fields])
    selected = [f"cast(id as varchar) as contact_id", "created_at" if "created_at" in columns else "null as created_at",
                "updated_at", "coalesce(archived, false) as archived" if "archived" in columns else "false as archived"]
    for name in config.fields:
        column = f"properties__{name}"
        selected.append(f"cast({column} as varchar) as {name}" if column in columns else f"null as {name}")
    frame = warehouse.query(f"select {', '.join(selected)} from {RAW_SCHEMA}.contacts")
    if archived:
        frame.loc[frame["contact_id"].isin(archived), "archived"] = True
    return frame


def archived_contact_ids(warehouse: Any) -> set[str]:
    """Contacts deleted in the CRM, by staging's rule (stg_crm__contacts.is_archived): listed as
    archived, unless the pull brought back a version newer than the deletion (restored since).
    Read from raw: reconcile runs right after the pull, before staging is built."""
    if not warehouse.table_exists(RAW_SCHEMA, "archived_contacts"):
        return set()
    if not warehouse.table_exists(RAW_SCHEMA, "contacts"):
        return set(warehouse.query(f"select cast(id as varchar) as id from {RAW_SCHEMA}.archived_contacts")["id"])
    return set(warehouse.query(
        f"select cast(a.id as varchar) as id from {RAW_SCHEMA}.archived_contacts a"
        f" left join {RAW_SCHEMA}.contacts c on cast(c.id as varchar) = cast(a.id as varchar)"
        f" group by a.id having max(c.updated_at) is null or max(a.archived_at) is null"
        f" or cast(max(a.archived_at) as timestamp with time zone)"
        f" >= cast(max(c.updated_at) as timestamp with time zone)")["id"])


def own_acknowledgements(warehouse: Any, since: datetime | None) -> dict[str, set[str]]:
    """contact id -> the `updatedAt` values the CRM answered to the platform's writes since `since`."""
    if not warehouse.table_exists("activation", "activation_ledger"):
        return {}
    where = "" if since is None else " and recorded_at >= ?"
    frame = warehouse.query(f"select acknowledgement from {LEDGER} where destination = ? and status = 'sent'"
                            f" and acknowledgement is not null{where}", (DESTINATION, *(() if since is None else (since,))))
    acks: dict[str, set[str]] = {}
    for text in frame["acknowledgement"]:
        ack = json.loads(text)
        if ack.get("contact_id") and ack.get("updated_at"):
            acks.setdefault(str(ack["contact_id"]), set()).add(crm_value(ack["updated_at"], "datetime"))
    return acks


def held_by_contact(warehouse: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """contact id -> (customer id, fields the CRM acknowledged) from the sync state."""
    if not warehouse.table_exists("activation", "destination_state"):
        return {}
    frame = warehouse.query(f"select customer_id, sent_fields from {STATE} where destination = ? and audience = ?",
                            (DESTINATION, AUDIENCE))
    held = {}
    for customer_id, text in zip(frame["customer_id"], frame["sent_fields"]):
        fields = json.loads(text)
        if fields.get(CONTACT_ID):
            held[str(fields[CONTACT_ID])] = (str(customer_id), fields)
    return held


def reconcile(warehouse: Any, config: CrmSyncConfig, *, run_id: str,
              now: Callable[[], datetime] | None = None) -> ReconcileReport:
    """Records what the last pull brought and whose it was. See the module docstring."""
    now = now or (lambda: datetime.now(timezone.utc))
    ensure_tables(warehouse)
    ensure_activation_tables(warehouse)
    SyncEngine(warehouse, _NoDestination(), now=now)  # the state and ledger tables
    started = now()
    report = ReconcileReport()
    archived = archived_contact_ids(warehouse)
    contacts = raw_contacts(warehouse, config, archived)
    report.contacts = int((~contacts["archived"].astype(bool)).sum())
    last_run = warehouse.query(f"select max(started_at) as at from {RECONCILES}")["at"]
    since = _time(last_run.iloc[0]) if len(last_run) else None
    acks = own_acknowledgements(warehouse, since)
    held = held_by_contact(warehouse)

    # contact modifications
    last_edit = warehouse.query(f"select contact_id, max(modified_at) as at from {CONTACT_EDITS} group by contact_id")
    last_modified = {cid: _time(at) for cid, at in zip(last_edit["contact_id"], last_edit["at"])}
    edits = []
    for row in contacts.itertuples(index=False):
        modified = _time(row.updated_at)
        if modified is None or (row.contact_id in last_modified and last_modified[row.contact_id] is not None
                                and modified <= last_modified[row.contact_id]):
            continue
        ours = crm_value(modified, "datetime") in acks.get(row.contact_id, ())
        edits.append({"contact_id": row.contact_id, "modified_at": modified, "origin": "platform" if ours else "crm",
                      "recorded_at": started})
    report.own_writes = sum(1 for e in edits if e["origin"] == "platform")
    report.crm_edits = len(edits) - report.own_writes

    # property values
    history = warehouse.query(
        f"select contact_id, field, value from (select contact_id, field, value, row_number() over"
        f" (partition by contact_id, field order by changed_at desc, recorded_at desc) as n from {FIELD_HISTORY}) h"
        f" where n = 1")
    last_value = {(c, f): v for c, f, v in zip(history["contact_id"], history["field"], history["value"])}
    values, conflicts, edited = [], [], {}
    written = config.written
    for row in contacts[~contacts["archived"].astype(bool)].itertuples(index=False):
        changed_at = _time(row.updated_at) or started
        customer_id, ours = held.get(row.contact_id, (None, {}))
        for spec in written:
            value = crm_value(getattr(row, spec.name), spec.type)
            key = (row.contact_id, spec.name)
            if key in last_value and _same(last_value[key], value):
                continue
            mine = spec.name in ours and crm_value(ours[spec.name], spec.type) == value
            values.append({"contact_id": row.contact_id, "field": spec.name, "value": value, "changed_at": changed_at,
                           "origin": "platform" if mine else "crm", "recorded_at": started})
            if mine:
                continue
            if spec.name in ours:  # the CRM no longer holds what the platform wrote
                edited.setdefault(row.contact_id, set()).add(spec.name)
                if spec.owner == "platform":
                    conflicts.append({"contact_id": row.contact_id, "customer_id": customer_id, "field": spec.name,
                                      "platform_value": crm_value(ours[spec.name], spec.type), "crm_value": value,
                                      "crm_edited_at": changed_at, "detected_at": started,
                                      "resolution": spec.on_crm_edit})
    report.changed_values = sum(1 for v in values if v["origin"] == "crm")
    report.conflicts = conflicts
    # archived in the CRM (some never pulled alive), or flagged archived by the pull itself
    gone = {cid for cid in archived | set(contacts.loc[contacts["archived"].astype(bool), "contact_id"])
            if cid in held}
    report.archived = len(gone)

    warehouse.execute("begin transaction")
    try:
        if edits:
            warehouse.insert_frame(CONTACT_EDITS, pd.DataFrame(edits))
        if values:
            warehouse.insert_frame(FIELD_HISTORY, pd.DataFrame(values))
        if conflicts:
            warehouse.insert_frame(CONFLICTS, pd.DataFrame(conflicts))
        for contact_id, names in edited.items():
            customer_id, fields = held[contact_id]
            kept = canonical({k: v for k, v in fields.items() if k not in names})
            warehouse.execute(f"update {STATE} set payload_hash = ?, sent_fields = ? where destination = ?"
                              f" and audience = ? and customer_id = ?",
                              (_digest(kept), json.dumps(kept, sort_keys=True), DESTINATION, AUDIENCE, customer_id))
        for contact_id in gone:
            warehouse.execute(f"delete from {STATE} where destination = ? and audience = ? and customer_id = ?",
                              (DESTINATION, AUDIENCE, held[contact_id][0]))
            warehouse.execute(f"insert into {DELETED_CONTACTS} values (?, ?, ?) on conflict do nothing",
                              (contact_id, held[contact_id][0], started))
        warehouse.insert_frame(RECONCILES, pd.DataFrame([{
            "run_id": run_id, "started_at": started, "contacts": report.contacts, "crm_edits": report.crm_edits,
            "own_writes": report.own_writes, "conflicts": len(conflicts), "archived": report.archived}]))
        warehouse.execute("commit")
    except BaseException:
        warehouse.execute("rollback")
        raise
    return report


def _same(a: Any, b: Any) -> bool:
    missing_a = a is None or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None
    return (missing_a and missing_b) or (not missing_a and not missing_b and str(a) == str(b))


class _NoDestination:
    name = DESTINATION
    batch_size = 1

    def send(self, *args: Any) -> list:  # pragma: no cover - never called
        raise RuntimeError("reconcile sends nothing")


# -- desired state and push ----------------------------------------------------------------------


@dataclass
class Plan:
    desired: dict[str, dict[str, Any]]
    blocked: set[str]
    creates: int = 0
    not_created: dict[str, int] = field(default_factory=dict)  # reason -> customers without a contact left so
    crm_kept: int = 0  # shared fields where the CRM's later edit stands
    platform_won: int = 0  # shared fields the platform's newer value goes to
    kept_conflicts: int = 0  # platform fields left as the CRM edited them (on_crm_edit: keep)
    skipped_columns: list[str] = field(default_factory=list)  # optional sources that do not exist


class CrmSyncError(RuntimeError):
    """The push cannot be planned (a profile column the sync file names does not exist)."""


def desired_contacts(warehouse: Any, config: CrmSyncConfig) -> Plan:
    """customer id -> the contact payload the CRM should hold, by the ownership rules.

    - A customer's contact is the oldest (then lowest id) CRM contact identity resolution ties
      to them that is not archived, else the contact the platform created for them (from the
      sync state). Other contacts of the same customer are merge suggestions, not written.
    - A customer without a contact gets one only by `create_contacts`: every required
      identifier, consent for every listed channel, and (unless `recreate_deleted`) no
      contact of theirs deleted in the CRM. Anonymous visitors never qualify.
    - Platform fields take the profile's value; one the CRM edited while `on_crm_edit: keep`
      is left out while the platform's value is the one it had then.
    - Shared fields: the profile's value when its evidence (`<column>_observed_at`) is newer than
      the CRM's last edit of the property, or the CRM has none; otherwise left out (the CRM's stands).
    """
    profile_columns = set(warehouse.columns(*PROFILES.split(".")))
    specs, skipped = [], []
    for spec in config.written:
        if spec.source == AUDIENCES_COLUMN or spec.source in profile_columns:
            specs.append(spec)
        elif spec.optional:
            skipped.append(spec.source)
        else:
            raise CrmSyncError(f"the CRM sync file maps {spec.name} from customer_profiles.{spec.source}, "
                               f"which does not exist (mark it `optional: true` if it is built later)")
    columns = {"customer_id"} | {s.source for s in specs if s.source != AUDIENCES_COLUMN}
    columns |= {f"{s.source}_observed_at" for s in specs if s.owner == "both" and f"{s.source}_observed_at" in profile_columns}
    columns |= {c for c in ("email", "phone") if c in profile_columns}
    columns |= {f"consent_{channel}" for channel in config.create.consent if f"consent_{channel}" in profile_columns}
    profiles = warehouse.query(f"select {', '.join(sorted(columns))} from {PROFILES}")
    audiences: dict[str, str] = {}
    if any(s.source == AUDIENCES_COLUMN for s in specs) and warehouse.table_exists("activation", "audience_members"):
        members = warehouse.query(f"select customer_id, audience from {MEMBERS} order by customer_id, audience")
        for customer_id, group in members.groupby("customer_id"):
            audiences[str(customer_id)] = ";".join(group["audience"])

    contacts = warehouse.query(
        f"select r.customer_id, c.contact_id, c.created_at from {RECORDS} r join {STAGED_CONTACTS} c"
        f" on r.source_name = 'crm' and r.table_name = 'contacts' and r.record_key = c.contact_id"
        f" where r.customer_id is not null and coalesce(c.is_archived, false) = false"
        f" order by r.customer_id, c.created_at, length(c.contact_id), c.contact_id")
    archived = archived_contact_ids(warehouse)
    contacts = contacts[~contacts["contact_id"].astype(str).isin(archived)]
    primary = {str(k): str(v) for k, v in contacts.drop_duplicates("customer_id")[["customer_id", "contact_id"]].values}
    # customers who had a contact the CRM deleted: linked to one by identity, or the state's
    linked_archived = warehouse.query(
        f"select distinct r.customer_id, c.contact_id from {RECORDS} r join {STAGED_CONTACTS} c"
        f" on r.source_name = 'crm' and r.table_name = 'contacts' and r.record_key = c.contact_id"
        f" where coalesce(c.is_archived, false)")
    lost_contact = set(linked_archived["customer_id"].astype(str))
    if warehouse.table_exists(SCHEMA, DELETED_CONTACTS.split(".")[1]):
        lost_contact |= set(warehouse.query(f"select customer_id from {DELETED_CONTACTS}")["customer_id"].astype(str))
    held = held_by_contact(warehouse)
    lost_contact |= {customer_id for contact_id, (customer_id, _) in held.items() if contact_id in archived}
    created = {customer_id: contact_id for contact_id, (customer_id, _) in held.items() if contact_id not in archived}

    crm_now, crm_edited = _crm_side(warehouse, config, archived)
    kept = _kept_conflicts(warehouse)
    plan = Plan(desired={}, blocked=set(), skipped_columns=skipped)
    for row in profiles.to_dict("records"):
        customer_id = str(row["customer_id"])
        contact = primary.get(customer_id) or created.get(customer_id)
        if contact is None:
            reason = _cannot_create(row, config, customer_id in lost_contact)
            if reason:
                plan.not_created[reason] = plan.not_created.get(reason, 0) + 1
                continue
            plan.creates += 1
        payload: dict[str, Any] = {CONTACT_ID: contact}
        for spec in specs:
            raw = audiences.get(customer_id) if spec.source == AUDIENCES_COLUMN else row.get(spec.source)
            value = crm_value(raw, spec.type)
            if spec.owner == "platform":
                conflict = kept.get((contact, spec.name))
                if contact is not None and conflict is not None and conflict == value:
                    plan.kept_conflicts += 1
                    continue
                payload[spec.name] = value
                continue
            if value is None:
                continue  # the platform knows nothing: whatever the CRM has stands
            if contact is None or crm_now.get((contact, spec.name)) is None:
                payload[spec.name] = value
                continue
            observed = _time(row.get(f"{spec.source}_observed_at"))
            edited = crm_edited.get((contact, spec.name))
            if crm_now[(contact, spec.name)] == value:
                payload[spec.name] = value  # both agree
            elif observed is not None and (edited is None or observed > edited):
                payload[spec.name] = value
                plan.platform_won += 1
            else:
                plan.crm_kept += 1
        if contact is None:
            payload["email"] = row.get("email")
        plan.desired[customer_id] = payload
    return plan


def _cannot_create(row: Mapping[str, Any], config: CrmSyncConfig, lost_contact: bool) -> str | None:
    rule = config.create
    if not rule.enabled:
        return "creating contacts is off"
    if lost_contact and not rule.recreate_deleted:
        return "their contact was deleted in the CRM"
    for identifier in rule.require:
        if crm_value(row.get(identifier), "string") is None:
            return f"no {identifier}"
    for channel in rule.consent:
        if row.get(f"consent_{channel}") is not True:
            return f"no {channel} consent"
    return None


def _crm_side(warehouse: Any, config: CrmSyncConfig, archived: set[str]) -> tuple[dict[tuple[str, str], str | None],
                                                                dict[tuple[str, str], datetime | None]]:
    """(contact, property) -> the CRM's value now, and -> when it was last edited in the CRM."""
    shared = [spec for spec in config.written if spec.owner == "both"]
    now: dict[tuple[str, str], str | None] = {}
    if shared:
        contacts = raw_contacts(warehouse, config, archived)
        for row in contacts[~contacts["archived"].astype(bool)].itertuples(index=False):
            for spec in shared:
                now[(row.contact_id, spec.name)] = crm_value(getattr(row, spec.name), spec.type)
    edited: dict[tuple[str, str], datetime | None] = {}
    if warehouse.table_exists(SCHEMA, "contact_field_history"):
        frame = warehouse.query(f"select contact_id, field, max(changed_at) as at from {FIELD_HISTORY}"
                                f" where origin = 'crm' group by contact_id, field")
        edited = {(c, f): _time(at) for c, f, at in zip(frame["contact_id"], frame["field"], frame["at"])}
    return now, edited


def _kept_conflicts(warehouse: Any) -> dict[tuple[str, str], str | None]:
    """(contact, property) -> the platform's value when the CRM's edit was kept (latest conflict)."""
    if not warehouse.table_exists(SCHEMA, "field_conflicts"):
        return {}
    frame = warehouse.query(
        f"select contact_id, field, platform_value, resolution from (select *, row_number() over (partition by"
        f" contact_id, field order by detected_at desc) as n from {CONFLICTS}) c where n = 1")
    return {(c, f): v for c, f, v, r in zip(frame["contact_id"], frame["field"], frame["platform_value"],
                                           frame["resolution"]) if r == "keep"}


def blocked_customers(warehouse: Any, customer_ids: Iterable[str]) -> set[str]:
    """Of `customer_ids`, those the CRM must not get the platform's fields for: no longer an
    active customer (merged away, split, deleted) or suppressed."""
    ids = set(customer_ids)
    return ids - permitted(warehouse, None, ids)


def push(warehouse: Any, config: CrmSyncConfig, client: Any, *, run_id: str, dry_run: bool = False,
         max_attempts: int = 5, now: Callable[[], datetime] | None = None) -> tuple[SyncReport, Plan]:
    """Writes the platform's fields to the CRM through the sync engine (or plans it)."""
    ensure_tables(warehouse)
    ensure_activation_tables(warehouse)
    plan = desired_contacts(warehouse, config)
    engine = SyncEngine(warehouse, client, max_attempts=max_attempts, now=now)
    held = engine.acknowledged(AUDIENCE)
    blocked = blocked_customers(warehouse, set(plan.desired) | set(held))

    def guard(changes: Any) -> None:
        creating = [c.customer_id for c in changes if not c.fields.get(CONTACT_ID)]
        refused = sorted(blocked_customers(warehouse, [c.customer_id for c in changes]))
        for channel in config.create.consent:
            refused += sorted(set(creating) - permitted(warehouse, channel, creating))
        if refused:
            raise ConsentViolation(f"{len(refused)} outgoing CRM write(s) for customers who are not active, are"
                                   f" suppressed or lack consent to create a contact (e.g. {refused[0]});"
                                   f" nothing was sent")

    report = engine.sync(AUDIENCE, plan.desired, mode="upsert", run_id=run_id, blocked=blocked, dry_run=dry_run,
                         guard=guard)
    return report, plan
