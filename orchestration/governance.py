"""Governance in Dagster: the retention purge of raw data, the audits of changes, a view of the audit log.

- `governance/retention` deletes the raw rows older than `activations/retention.yml` allows
  (with their nested tables' rows and quarantine entries) and records each table's count in
  the audit log; its metadata gives the rows purged per table. The job `retention` selects
  only that asset; the schedule `retention_daily` runs it at 04:30 UTC.
- `governance/identity_audit` (after `identity/identity_merge_history`): an `identity.merge` or
  `identity.split` event per new merge-history row.
- `governance/consent_audit` (after `profiles/customer_consent`): a `consent.change` event per
  customer and channel whose current consent changed since the last audit.
- `governance/config_audit`: a `config.change` event per governed configuration file (the
  destinations, retention and CRM sync files, dbt_project.yml) whose content changed since last
  seen, or that was never seen.
- `governance/audit_log` (after all of the above and every activation sync, which record
  `activation.batch` events themselves): events per action over the last 24 hours and the
  latest events.

All write the warehouse, so all run in the `duckdb_writers` pool. The plain Python is in
`activations/governance/`.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg

from activations.governance.retention import RetentionConfig, RetentionReport, load_retention_config
from dlt_sources.pipelines import SOURCES
from orchestration.policy import DUCKDB_WRITERS_POOL, EAGER, GOVERNANCE_GROUP
from orchestration.resources import PlatformResource
from orchestration.settings import DBT_PROJECT_DIR, Settings

RETENTION_KEY = dg.AssetKey(["governance", "retention"])
AUDIT_LOG_KEY = dg.AssetKey(["governance", "audit_log"])
IDENTITY_AUDIT_KEY = dg.AssetKey(["governance", "identity_audit"])
CONSENT_AUDIT_KEY = dg.AssetKey(["governance", "consent_audit"])
CONFIG_AUDIT_KEY = dg.AssetKey(["governance", "config_audit"])
MERGE_HISTORY_KEY = dg.AssetKey(["identity", "identity_merge_history"])
CONSENT_KEY = dg.AssetKey(["profiles", "customer_consent"])
LATEST_EVENTS = 20
RETENTION_JOB = "retention"
RETENTION_SCHEDULE = "retention_daily"
RETENTION_CRON = "30 4 * * *"
AUDIT_WINDOW = timedelta(hours=24)


def load_retention(settings: Settings) -> RetentionConfig:
    """The retention file of the settings (`CDP_RETENTION_FILE`), checked: a wrong rule fails the definitions."""
    return load_retention_config(settings.retention_file, sources=SOURCES)


def governed_config_files(settings: Settings) -> dict[str, Path]:
    """The configuration files whose changes are audited: name -> path (the settings' destinations and
    retention files)."""
    from activations.crm.config import CRM_SYNC_FILE

    return {"destinations": settings.destinations_file, "retention": settings.retention_file,
            "crm_sync": CRM_SYNC_FILE, "dbt_project": DBT_PROJECT_DIR / "dbt_project.yml"}


def governance_assets(config: RetentionConfig, config_files: Mapping[str, Path],
                      audited: Sequence[dg.AssetKey] = ()) -> list[dg.AssetsDefinition]:
    """The governance assets; `config_files` are audited by governance/config_audit, `audited` are
    further assets the audit-log view waits for (the activation syncs, which record their batches)."""
    files = dict(config_files)
    rules = "\n".join(f"| {rule.name} | {rule.keep_days} | {rule.by or 'load time'} |" for rule in config.rules)

    @dg.asset(
        key=RETENTION_KEY,
        group_name=GOVERNANCE_GROUP,
        pool=DUCKDB_WRITERS_POOL,
        description="Deletes raw rows older than activations/retention.yml allows, with their rows in dlt's nested "
                    "tables and their quarantine entries; one retention.purge event per table in "
                    "governance.audit_log. A configured table not loaded yet is skipped.",
        metadata={"rules": dg.MetadataValue.md("| table | keep days | by |\n|---|---|---|\n"
                                               + (rules or "| (none) | | |"))},
    )
    def retention(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        from activations.governance.retention import purge

        with platform.warehouse() as warehouse:
            report = purge(warehouse, config, now=datetime.now(timezone.utc), run_id=context.run.run_id)
        context.log.info("retention: %s rows purged %s; skipped (not loaded) %s", report.total_rows, report.rows(),
                         report.skipped or "none")
        return dg.MaterializeResult(metadata=retention_metadata(report))

    @dg.asset(
        key=IDENTITY_AUDIT_KEY,
        deps=[MERGE_HISTORY_KEY],
        group_name=GOVERNANCE_GROUP,
        automation_condition=EAGER,
        pool=DUCKDB_WRITERS_POOL,
        description="One identity.merge or identity.split event in governance.audit_log per new row of "
                    "identity.identity_merge_history (subject: the hashed old customer id).",
    )
    def identity_audit(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        from activations.governance.events import audit_identity_events

        with platform.warehouse() as warehouse:
            counts = audit_identity_events(warehouse, run_id=context.run.run_id)
        context.log.info("identity audit: %s", counts or "no new merges or splits")
        return dg.MaterializeResult(metadata={
            "merges_audited": dg.MetadataValue.int(counts.get("identity.merge", 0)),
            "splits_audited": dg.MetadataValue.int(counts.get("identity.split", 0)),
        })

    @dg.asset(
        key=CONSENT_AUDIT_KEY,
        deps=[CONSENT_KEY],
        group_name=GOVERNANCE_GROUP,
        automation_condition=EAGER,
        pool=DUCKDB_WRITERS_POOL,
        description="One consent.change event in governance.audit_log per customer and channel whose current "
                    "consent (profiles.customer_consent) changed since the last audit (state: "
                    "governance.consent_audit_state, by hashed customer id).",
    )
    def consent_audit(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        from activations.governance.events import audit_consent_changes

        with platform.warehouse() as warehouse:
            report = audit_consent_changes(warehouse, run_id=context.run.run_id)
        if not report.built:
            context.log.warning("consent audit: profiles.customer_consent is not built yet; nothing audited")
        rows = "\n".join(f"| {channel} | {before} | {after} | {n} |" for channel, before, after, n in report.table())
        return dg.MaterializeResult(metadata={
            "consent_changes": dg.MetadataValue.int(report.changes),
            "customers": dg.MetadataValue.int(report.customers),
            "changes_by_channel": dg.MetadataValue.md("| channel | from | to | customers |\n|---|---|---|---|\n"
                                                      + (rows or "| (no change) | | | 0 |")),
        })

    @dg.asset(
        key=CONFIG_AUDIT_KEY,
        group_name=GOVERNANCE_GROUP,
        pool=DUCKDB_WRITERS_POOL,
        description="One config.change event in governance.audit_log per governed configuration file whose content "
                    "changed since last seen, or never seen: " + ", ".join(sorted(files)) + ".",
        metadata={"files": dg.MetadataValue.json({name: str(path) for name, path in files.items()})},
    )
    def config_audit(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        from activations.governance.events import audit_config_files

        with platform.warehouse() as warehouse:
            changes = audit_config_files(warehouse, files, run_id=context.run.run_id)
        rows = "\n".join(f"| {c.name} | {(c.old_hash or '(first seen)')[:12]} | {c.new_hash[:12]} |"
                         f" {', '.join(c.changed_keys) or '-'} |" for c in changes)
        context.log.info("config audit: %s", [c.name for c in changes] or "no change")
        return dg.MaterializeResult(metadata={
            "files_changed": dg.MetadataValue.int(len(changes)),
            "changes": dg.MetadataValue.md("| file | old hash | new hash | top-level keys changed |\n"
                                           "|---|---|---|---|\n" + (rows or "| (no change) | | | |")),
        })

    @dg.asset(
        key=AUDIT_LOG_KEY,
        deps=[RETENTION_KEY, IDENTITY_AUDIT_KEY, CONSENT_AUDIT_KEY, CONFIG_AUDIT_KEY, *audited],
        group_name=GOVERNANCE_GROUP,
        pool=DUCKDB_WRITERS_POOL,
        description="The append-only audit log (governance.audit_log): events per action over the last 24 hours "
                    "and the latest events. Read it with activations.governance.audit.read.",
    )
    def audit_log(platform: PlatformResource) -> dg.MaterializeResult:
        from activations.governance import audit

        now = datetime.now(timezone.utc)
        with platform.warehouse() as warehouse:
            audit.ensure_tables(warehouse)
            counts = audit.counts_by_action(warehouse, since=now - AUDIT_WINDOW)
            latest = audit.read(warehouse, limit=LATEST_EVENTS)
        return dg.MaterializeResult(metadata=audit_log_metadata(counts, latest))

    return [retention, identity_audit, consent_audit, config_audit, audit_log]


def audit_log_metadata(counts: Mapping[str, int], latest: Any) -> dict[str, Any]:
    """Counts per action and a table of the latest events (the log holds no personal data:
    person-level subjects are hashed; the detail is shortened for the table)."""
    table = "\n".join(f"| {action} | {events} |" for action, events in counts.items())
    rows = []
    for event in reversed(list(latest.itertuples(index=False))):  # newest first
        detail = json.dumps(json.loads(event.detail), sort_keys=True, separators=(",", ":"))
        detail = detail if len(detail) <= 160 else detail[:157] + "..."
        subject = event.subject_id or ""
        subject = subject[:12] + "..." if event.subject_type == "customer" and len(subject) > 12 else subject
        rows.append(f"| {event.occurred_at:%Y-%m-%d %H:%M:%S} | {event.action} | {event.subject_type}:{subject} |"
                    f" {_md(detail)} | {_md(event.actor)} |")
    return {
        "events_last_24h": dg.MetadataValue.int(sum(counts.values())),
        "by_action_last_24h": dg.MetadataValue.md("| action | events |\n|---|---|\n" + (table or "| (none) | 0 |")),
        "latest_events": dg.MetadataValue.md("| when (UTC) | action | subject | detail | actor |\n"
                                             "|---|---|---|---|---|\n" + ("\n".join(rows) or "| (none) | | | | |")),
    }


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def retention_metadata(report: RetentionReport) -> dict[str, Any]:
    lines = [f"| {purge.table} | {purge.rows} | {purge.cutoff.isoformat()} |" for purge in report.tables]
    lines += [f"| {name} | {rows} | (nested) |" for purge in report.tables for name, rows in purge.nested.items()]
    return {
        "rows_purged": dg.MetadataValue.int(report.total_rows),
        "quarantine_entries_purged": dg.MetadataValue.int(report.quarantine_rows),
        **{f"rows_purged/{table}": dg.MetadataValue.int(rows) for table, rows in report.rows().items()},
        "tables": dg.MetadataValue.md("| table | rows purged | cutoff |\n|---|---|---|\n"
                                      + ("\n".join(lines) or "| (none configured) | | |")),
        "skipped_not_loaded": dg.MetadataValue.json(report.skipped),
    }


def retention_automations() -> tuple[Any, dg.ScheduleDefinition]:
    job = dg.define_asset_job(RETENTION_JOB, selection=dg.AssetSelection.assets(RETENTION_KEY),
                              description="Deletes expired raw data (activations/retention.yml).")
    schedule = dg.ScheduleDefinition(name=RETENTION_SCHEDULE, job=job, cron_schedule=RETENTION_CRON,
                                     execution_timezone="UTC", description="The retention purge, daily.")
    return job, schedule
