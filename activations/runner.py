"""Runs what the Dagster activation assets and the `cdp activation` commands do.

- `record_membership`: an audience's members this run against last run's: who entered, who
  exited, the size over time, and for a sample the traits that moved (from the dbt snapshot
  `customer_traits_history`).
- `activate`: one audience to one destination through the sync engine, with consent,
  suppression and exclusive-group priorities applied before anything is planned, and a last
  consent check on every outgoing row before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from activations.config import ActivationConfig, AudienceSpec
from activations.engine import SCHEMA, Change, ConsentViolation, SyncEngine, SyncReport, desired_from_frame

MEMBERS = f"{SCHEMA}.audience_members"
MEMBERSHIP_CHANGES = f"{SCHEMA}.audience_membership_changes"
SIZES = f"{SCHEMA}.audience_sizes"
SUPPRESSIONS = f"{SCHEMA}.suppressions"
CONSENT = "profiles.customer_consent"
CUSTOMERS = "identity.identity_customers"
TRAITS_HISTORY = ("snapshots", "customer_traits_history")
SNAPSHOT_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to", "dbt_is_deleted")

DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {MEMBERS} (
        audience varchar not null,
        customer_id varchar not null,
        entered_at timestamp with time zone not null,
        run_id varchar not null,
        primary key (audience, customer_id)
    )""",
    f"""create table if not exists {MEMBERSHIP_CHANGES} (
        audience varchar not null,
        customer_id varchar not null,
        change varchar not null,
        run_id varchar not null,
        changed_at timestamp with time zone not null,
        reason varchar
    )""",
    f"""create table if not exists {SIZES} (
        audience varchar not null,
        run_id varchar not null,
        measured_at timestamp with time zone not null,
        size integer not null,
        entered integer not null,
        exited integer not null
    )""",
    f"""create table if not exists {SUPPRESSIONS} (
        customer_id varchar not null,
        reason varchar not null,
        suppressed_at timestamp with time zone not null,
        primary key (customer_id)
    )""",
)


def ensure_tables(warehouse: Any) -> None:
    for statement in DDL:
        warehouse.execute(statement)


# -- membership history --------------------------------------------------------------------


@dataclass
class MembershipReport:
    audience: str
    size: int
    entered: int
    exited: int
    sample: list[dict[str, str]] = field(default_factory=list)  # customer_id, change, reason


def record_membership(warehouse: Any, audience: AudienceSpec, *, run_id: str, now: datetime | None = None,
                      sample_size: int = 10) -> MembershipReport:
    """Compares the audience model's members with the last recorded ones and records the difference."""
    ensure_tables(warehouse)
    now = now or datetime.now(timezone.utc)
    current = set(warehouse.query(f"select distinct customer_id from {audience.relation}")["customer_id"].astype(str))
    previous = set(warehouse.query(f"select customer_id from {MEMBERS} where audience = ?",
                                   (audience.name,))["customer_id"].astype(str))
    last_run = warehouse.query(f"select max(measured_at) as at from {SIZES} where audience = ?", (audience.name,))["at"]
    since = None if last_run.empty or _missing(last_run.iloc[0]) else last_run.iloc[0].to_pydatetime()
    entered, exited = sorted(current - previous), sorted(previous - current)
    sampled = [(customer_id, "entered") for customer_id in entered[:sample_size]]
    sampled += [(customer_id, "exited") for customer_id in exited[:sample_size]]
    reasons = trait_changes(warehouse, [customer_id for customer_id, _ in sampled], since)
    changes = pd.DataFrame(
        [{"audience": audience.name, "customer_id": customer_id, "change": "entered", "run_id": run_id,
          "changed_at": now, "reason": None} for customer_id in entered]
        + [{"audience": audience.name, "customer_id": customer_id, "change": "exited", "run_id": run_id,
            "changed_at": now, "reason": None} for customer_id in exited],
        columns=["audience", "customer_id", "change", "run_id", "changed_at", "reason"])
    sample = []
    for customer_id, change in sampled:
        reason = reasons.get(customer_id) or _no_trait_moved(change)
        changes.loc[(changes["customer_id"] == customer_id) & (changes["change"] == change), "reason"] = reason
        sample.append({"customer_id": customer_id, "change": change, "reason": reason})
    warehouse.execute("begin transaction")
    try:
        if exited:
            warehouse.stage_keys("_exited", pd.DataFrame({"customer_id": exited}))
            warehouse.execute(f"delete from {MEMBERS} where audience = ? and customer_id in"
                              f" (select customer_id from _exited)", (audience.name,))
        if entered:
            warehouse.insert_frame(MEMBERS, pd.DataFrame({
                "audience": audience.name, "customer_id": entered, "entered_at": now, "run_id": run_id}))
        if len(changes):
            warehouse.insert_frame(MEMBERSHIP_CHANGES, changes)
        warehouse.insert_frame(SIZES, pd.DataFrame([{
            "audience": audience.name, "run_id": run_id, "measured_at": now, "size": len(current),
            "entered": len(entered), "exited": len(exited)}]))
        warehouse.execute("commit")
    except BaseException:
        warehouse.execute("rollback")
        raise
    return MembershipReport(audience.name, len(current), len(entered), len(exited), sample)


def _no_trait_moved(change: str) -> str:
    return ("no snapshotted trait moved (a time window, an event or the audience's own rule)"
            if change == "entered" else "no snapshotted trait moved (a time window passed, or the rule changed)")


def trait_changes(warehouse: Any, customer_ids: Sequence[str], since: datetime | None) -> dict[str, str]:
    """customer id -> the traits that moved since `since` (the audience's previous membership run),
    from the dbt snapshot `customer_traits_history`: the version current then against the current one."""
    if not customer_ids or not warehouse.table_exists(*TRAITS_HISTORY):
        return {}
    relation = ".".join(TRAITS_HISTORY)
    warehouse.stage_keys("_sampled", pd.DataFrame({"customer_id": list(customer_ids)}))
    frame = warehouse.query(f"select h.* from {relation} h where h.customer_id in (select customer_id from _sampled)")
    watched = [c for c in frame.columns if c not in (*SNAPSHOT_COLUMNS, "customer_id")]
    valid_from = pd.to_datetime(frame["dbt_valid_from"], utc=True)
    valid_to = pd.to_datetime(frame["dbt_valid_to"], utc=True)
    since = pd.Timestamp(since).tz_convert("UTC") if since is not None else None
    reasons: dict[str, str] = {}
    for customer_id, versions in frame.groupby("customer_id"):
        current = versions[valid_to[versions.index].isna()]
        if current.empty:
            reasons[str(customer_id)] = "no longer an active customer (merged, split or deleted)"
            continue
        latest = current.iloc[0]
        then = versions[(valid_from[versions.index] <= since) & (valid_to[versions.index].isna()
                                                                  | (valid_to[versions.index] > since))] \
            if since is not None else versions.iloc[0:0]
        if then.empty:
            reasons[str(customer_id)] = "first traits on record: " + ", ".join(
                f"{name} {_show(latest[name])}" for name in watched if not _missing(latest[name]))
            continue
        before = then.iloc[0]
        moved = [f"{name} {_show(before[name])} -> {_show(latest[name])}" for name in watched
                 if _show(before[name]) != _show(latest[name])]
        if moved:
            reasons[str(customer_id)] = "; ".join(moved)
    return reasons


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _show(value: Any) -> str:
    return "null" if _missing(value) else str(value)


def size_history(warehouse: Any, audience: str, limit: int = 30) -> pd.DataFrame:
    ensure_tables(warehouse)
    return warehouse.query(f"select measured_at, size, entered, exited from {SIZES} where audience = ?"
                           f" order by measured_at desc limit {int(limit)}", (audience,)).iloc[::-1]


# -- activation ----------------------------------------------------------------------------


def permitted(warehouse: Any, channel: str | None, customer_ids: Iterable[str]) -> set[str]:
    """Of `customer_ids`, those who may receive on `channel`: an active customer, consent granted
    for the channel, and not suppressed. Unknown consent is not consent. `channel` None: active
    and not suppressed, whatever the consent (what the CRM may hold the platform's fields for)."""
    ensure_tables(warehouse)
    ids = sorted(set(customer_ids))
    if not ids:
        return set()
    warehouse.stage_keys("_candidates", pd.DataFrame({"customer_id": ids}))
    consent = "" if channel is None else \
        f" join {CONSENT} k on k.customer_id = c.customer_id and k.channel = ? and k.granted"
    frame = warehouse.query(
        f"select c.customer_id from _candidates c{consent}"
        f" join {CUSTOMERS} i on i.customer_id = c.customer_id and i.status = 'active'"
        f" where not exists (select 1 from {SUPPRESSIONS} s where s.customer_id = c.customer_id)",
        () if channel is None else (channel,))
    return set(frame["customer_id"].astype(str))


def consent_guard(warehouse: Any, destination: str, channel: str) -> Callable[[Sequence[Change]], None]:
    """The last check before anything leaves: every outgoing add and update is re-checked."""
    def guard(changes: Sequence[Change]) -> None:
        outgoing = {change.customer_id for change in changes}
        refused = sorted(outgoing - permitted(warehouse, channel, outgoing))
        if refused:
            raise ConsentViolation(
                f"{len(refused)} outgoing row(s) to {destination!r} lack {channel} consent or are suppressed"
                f" (e.g. {refused[0]}); nothing was sent")
    return guard


def activate(warehouse: Any, config: ActivationConfig, audience: str, destination: str, client: Any, *,
             run_id: str, dry_run: bool = False, max_attempts: int = 5,
             now: Callable[[], datetime] | None = None, actor: str = "system") -> SyncReport:
    """Syncs one audience to one destination (or plans it, with `dry_run`); `actor` is who the
    audit log's `activation.batch` events name (`system`, or `cli:<user>` from the command line)."""
    spec = config.audiences[audience]
    target = spec.target(destination)
    channel = config.destinations[destination].channel
    ensure_tables(warehouse)
    columns = ", ".join(dict.fromkeys(("customer_id", *target.fields)))
    desired = desired_from_frame(warehouse.query(f"select {columns} from {spec.relation}"), target.fields)
    outranked: set[str] = set()
    for rival in config.outranking(audience, target):
        outranked |= set(warehouse.query(f"select customer_id from {rival.relation}")["customer_id"].astype(str))
    outranked &= set(desired)
    for customer_id in outranked:
        del desired[customer_id]
    engine = SyncEngine(warehouse, client, max_attempts=max_attempts, now=now, actor=actor)
    held = engine.acknowledged(audience)
    allowed = permitted(warehouse, channel, set(desired) | set(held))
    blocked = (set(desired) | set(held)) - allowed
    report = engine.sync(audience, desired, mode=target.mode, run_id=run_id, blocked=blocked, dry_run=dry_run,
                         guard=consent_guard(warehouse, destination, channel))
    report.skipped_priority = len(outranked)
    if not dry_run:
        warehouse.execute(f"update {SCHEMA}.sync_runs set skipped_priority = ? where sync_run_id = ?"
                          f" and destination = ? and audience = ?", (len(outranked), run_id, destination, audience))
    return report


def unconsented_sent_rows(warehouse: Any, destination: str, channel: str, audience: str, run_id: str) -> pd.DataFrame:
    """Adds and updates the ledger shows sent in `run_id` to people who may not receive them now."""
    sent = warehouse.query(
        f"select distinct customer_id from {SCHEMA}.activation_ledger where sync_run_id = ? and destination = ?"
        f" and audience = ? and status = 'sent' and operation in ('add', 'update')", (run_id, destination, audience))
    ids = set(sent["customer_id"].astype(str))
    refused = sorted(ids - permitted(warehouse, channel, ids))
    return pd.DataFrame({"customer_id": refused})


def plan_text(report: SyncReport, limit: int = 5) -> str:
    """What a dry run would do, for people: counts, then a few changes of each kind."""
    lines = [f"{report.audience} -> {report.destination} ({report.mode}): {report.added} to add, "
             f"{report.updated} to update, {report.removed} to remove; {report.unchanged} unchanged, "
             f"{report.skipped_consent} skipped for consent, {report.skipped_priority} held by a higher-priority"
             f" audience, {report.dead} dead"]
    for operation in ("add", "update", "remove"):
        shown = [c for c in report.plan if c.operation == operation][:limit]
        for change in shown:
            reason = f" ({change.reason})" if change.reason else ""
            # field names, not values: a plan is printed and logged, and values are personal data
            lines.append(f"    {operation:<6} {change.customer_id}{reason}: {', '.join(sorted(change.fields))}")
    return "\n".join(lines)
