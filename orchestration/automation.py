"""Schedules and sensors: the whole platform daily, landing folders on arrival (the CRM loop: crm_sync.py)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from dlt_sources.pipelines import SOURCES
from orchestration.settings import Settings

LANDING_SOURCES = [name for name, spec in SOURCES.items() if spec.kind == "landing"]


def source_selection(source: str) -> dg.AssetSelection:
    """A source's raw tables and everything built from them."""
    return dg.AssetSelection.key_prefixes(["raw", source]).downstream()


def latest_landing_change(folder: Path) -> float:
    """The newest modification time of any file under a landing folder (0 when empty)."""
    if not folder.is_dir():
        return 0.0
    return max((path.stat().st_mtime for path in folder.rglob("*") if path.is_file()), default=0.0)


def automations(settings: Settings) -> tuple[list, list, list]:
    platform_job = dg.define_asset_job(
        "platform", selection=dg.AssetSelection.all(), description="Every load, check and model."
    )
    landing_jobs = {
        source: dg.define_asset_job(
            f"ingest_{source}",
            # raw + staging only: identity and profiles read every source's staging model, and
            # are rebuilt by the platform job and by automation (they need all sources present)
            selection=source_selection(source) & dg.AssetSelection.groups("ingest", "staging"),
            description=f"Load new files of the {source} landing folder and rebuild its staging models.",
        )
        for source in LANDING_SOURCES
    }
    schedules = [
        dg.ScheduleDefinition(
            name="platform_daily", job=platform_job, cron_schedule="0 3 * * *", execution_timezone="UTC"
        ),
    ]

    @dg.sensor(
        name="landing_folders",
        jobs=list(landing_jobs.values()),
        minimum_interval_seconds=60,
        description="Starts a source's load when new files arrive in its landing folder.",
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def landing_folders(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen = json.loads(context.cursor) if context.cursor else {}
        requests = []
        for source in LANDING_SOURCES:
            changed = latest_landing_change(settings.landing(source))
            if changed > seen.get(source, 0.0):
                seen[source] = changed
                requests.append(
                    dg.RunRequest(run_key=f"{source}:{changed}", job_name=landing_jobs[source].name)
                )
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    return schedules, [landing_folders], [platform_job, *landing_jobs.values()]
