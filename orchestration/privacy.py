"""Privacy requests in Dagster, and the runner the `cdp privacy` commands share with it.

`governance/privacy_requests` carries out every open step of every pending deletion request
(see activations/governance/deletion.py): removals at each destination that holds the person,
the CRM's GDPR delete, the warehouse sweep, the landing files, dlt's load archive, and on the
embedded DuckDB a rewrite of the file. A step that fails (a destination down) is recorded with
its error and retried by the next run; the schedule `privacy_requests_hourly` runs it hourly,
and `cdp privacy delete` runs it at once after taking a request.
"""

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dagster as dg

from activations.config import ActivationConfig
from activations.crm.config import CrmSyncConfig
from activations.governance.deletion import (
    Executors,
    StepOutcome,
    awaiting_compaction,
    compact_duckdb,
    pending,
    process,
    record_compaction,
)
from orchestration.crm_sync import crm_destination
from orchestration.policy import DUCKDB_WRITERS_POOL, GOVERNANCE_GROUP
from orchestration.redaction import redacted_errors
from orchestration.resources import CrmApiResource, PlatformResource

PRIVACY_KEY = dg.AssetKey(["governance", "privacy_requests"])
PRIVACY_JOB = "privacy_requests"
PRIVACY_SCHEDULE = "privacy_requests_hourly"


@dataclass
class PrivacyRun:
    outcomes: list[StepOutcome] = field(default_factory=list)
    compacted: list[str] = field(default_factory=list)  # request ids whose file rewrite is done
    compaction_error: str | None = None
    still_open: int = 0  # steps not done after this run

    def counts(self) -> dict[str, int]:
        done = sum(1 for o in self.outcomes if o.status == "done")
        return {"steps_done": done, "steps_failed": len(self.outcomes) - done, "steps_open": self.still_open,
                "requests_compacted": len(self.compacted)}


def executors(*, activation: ActivationConfig, crm_config: CrmSyncConfig, crm_api: CrmApiResource,
              landing_dir: Path, pipelines_dir: Path, default_region: str) -> Executors:
    from dlt_sources.tombstones import scrub_landing_file

    def destination(name: str) -> Any:
        if name == "crm":
            return crm_client()
        if name not in activation.destinations:
            raise RuntimeError(f"the destination {name!r} holds them but is no longer configured")
        return activation.destinations[name].build(os.environ)

    def crm_client() -> Any:  # the CRM push's own client (its settings, rate limit included)
        return crm_destination(crm_config, crm_api)

    def scrub(path: Path, hashes: frozenset[str]) -> int:  # `<landing>/<source>/<file>`
        return scrub_landing_file(path, path.relative_to(landing_dir).parts[0], hashes, default_region=default_region)

    return Executors(destination=destination, crm=crm_client, landing_dir=landing_dir, pipelines_dir=pipelines_dir,
                     scrub=scrub, default_region=default_region)


def run_requests(open_warehouse: Callable[[], AbstractContextManager[Any]], run: Executors, *, target: str,
                 warehouse_path: Path | str | None, actor: str, run_id: str | None = None) -> PrivacyRun:
    """Processes pending deletions, then rewrites an embedded DuckDB file for those whose other
    steps are all done (with no connection open, as DuckDB requires)."""
    result = PrivacyRun()
    with open_warehouse() as warehouse:
        result.outcomes = process(warehouse, run, actor=actor, now=_now, run_id=run_id)
        waiting = awaiting_compaction(warehouse) if target == "duckdb" else []
    if waiting:
        try:
            compact_duckdb(Path(str(warehouse_path)))
        except Exception as error:  # recorded on the step, retried at the next run
            result.compaction_error = f"{type(error).__name__}: {error}"
        with open_warehouse() as warehouse:
            record_compaction(warehouse, waiting, error=result.compaction_error, actor=actor, now=_now(), run_id=run_id)
        if result.compaction_error is None:
            result.compacted = waiting
    with open_warehouse() as warehouse:
        result.still_open = len(pending(warehouse))
    return result


def _now() -> datetime:
    return datetime.now(timezone.utc)


def privacy_assets(activation: ActivationConfig, crm_config: CrmSyncConfig) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=PRIVACY_KEY,
        group_name=GOVERNANCE_GROUP,
        pool=DUCKDB_WRITERS_POOL,
        description="Carries out pending deletion requests (cdp privacy delete): removal at every destination that "
                    "holds the person, the CRM's GDPR delete, the warehouse sweep, landing files, dlt's load archive "
                    "and the DuckDB file rewrite. Failed steps are retried at the next run.",
    )
    def privacy_requests(context: dg.AssetExecutionContext, platform: PlatformResource,
                         crm_api: CrmApiResource) -> dg.MaterializeResult:
        run = executors(activation=activation, crm_config=crm_config, crm_api=crm_api,
                        landing_dir=Path(platform.landing_dir),
                        pipelines_dir=Path(platform.home) / "dlt_pipelines",
                        default_region=platform.default_phone_region)
        with redacted_errors(platform.redactor):
            result = run_requests(platform.warehouse, run, target=platform.target,
                                  warehouse_path=platform.warehouse_path, actor=f"dagster:{context.run.run_id}",
                                  run_id=context.run.run_id)
        for outcome in result.outcomes:
            if outcome.status == "failed":
                context.log.warning("privacy request %s: step %s %s failed: %s", outcome.request_id, outcome.step,
                                    outcome.target, outcome.error)
        lines = [f"| {o.request_id} | {o.step} | {o.target} | {o.status} | {o.rows if o.rows is not None else ''} |"
                 for o in result.outcomes]
        return dg.MaterializeResult(metadata={
            **{name: dg.MetadataValue.int(value) for name, value in result.counts().items()},
            "steps": dg.MetadataValue.md("| request | step | target | status | rows |\n|---|---|---|---|---|\n"
                                         + ("\n".join(lines) or "| (nothing pending) | | | | |")),
            "compaction_error": dg.MetadataValue.text(result.compaction_error or ""),
        })

    return [privacy_requests]


def privacy_automations() -> tuple[Any, dg.ScheduleDefinition]:
    job = dg.define_asset_job(PRIVACY_JOB, selection=dg.AssetSelection.assets(PRIVACY_KEY),
                              description="Carries out pending privacy requests and retries their failed steps.")
    schedule = dg.ScheduleDefinition(name=PRIVACY_SCHEDULE, job=job, cron_schedule="15 * * * *",
                                     execution_timezone="UTC", description="Pending privacy requests, hourly.")
    return job, schedule
