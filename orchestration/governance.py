"""Governance in Dagster: the retention purge of raw data and a view of the audit log.

- `governance/retention` deletes the raw rows older than `activations/retention.yml` allows
  (with their nested tables' rows and quarantine entries) and records each table's count in
  the audit log; its metadata gives the rows purged per table. The job `retention` selects
  only that asset; the schedule `retention_daily` runs it at 04:30 UTC.
- `governance/audit_log` reports the audit log's events per action over the last 24 hours.

Both write the warehouse (the purge deletes, the view creates the log's table if missing),
so both run in the `duckdb_writers` pool. The plain Python is in `activations/governance/`.
"""

from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg

from activations.governance.retention import RetentionConfig, RetentionReport, load_retention_config
from dlt_sources.pipelines import SOURCES
from orchestration.policy import DUCKDB_WRITERS_POOL, GOVERNANCE_GROUP
from orchestration.resources import PlatformResource
from orchestration.settings import Settings

RETENTION_KEY = dg.AssetKey(["governance", "retention"])
AUDIT_LOG_KEY = dg.AssetKey(["governance", "audit_log"])
RETENTION_JOB = "retention"
RETENTION_SCHEDULE = "retention_daily"
RETENTION_CRON = "30 4 * * *"
AUDIT_WINDOW = timedelta(hours=24)


def load_retention(settings: Settings) -> RetentionConfig:
    """The retention file of the settings (`CDP_RETENTION_FILE`), checked: a wrong rule fails the definitions."""
    return load_retention_config(settings.retention_file, sources=SOURCES)


def governance_assets(config: RetentionConfig) -> list[dg.AssetsDefinition]:
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
        key=AUDIT_LOG_KEY,
        deps=[RETENTION_KEY],
        group_name=GOVERNANCE_GROUP,
        pool=DUCKDB_WRITERS_POOL,
        description="The append-only audit log (governance.audit_log): events per action over the last 24 hours. "
                    "Read it with activations.governance.audit.read.",
    )
    def audit_log(platform: PlatformResource) -> dg.MaterializeResult:
        from activations.governance import audit

        now = datetime.now(timezone.utc)
        with platform.warehouse() as warehouse:
            audit.ensure_tables(warehouse)
            counts = audit.counts_by_action(warehouse, since=now - AUDIT_WINDOW)
        table = "\n".join(f"| {action} | {events} |" for action, events in counts.items())
        return dg.MaterializeResult(metadata={
            "events_last_24h": dg.MetadataValue.int(sum(counts.values())),
            "by_action_last_24h": dg.MetadataValue.md("| action | events |\n|---|---|\n" + (table or "| (none) | 0 |")),
        })

    return [retention, audit_log]


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
