"""The code location: assembles ingestion, transformation and automation, and applies policy."""

from __future__ import annotations

import dagster as dg

from orchestration.automation import automations
from orchestration.identity import identity_assets
from orchestration.ingest import ingest_assets
from orchestration.quality import quality_checks
from orchestration.resources import PlatformResource, build_resources
from orchestration.settings import Settings
from orchestration.transform import transform_assets


def build_definitions(settings: Settings) -> dg.Definitions:
    resources = build_resources(settings)
    assets = [*ingest_assets(PlatformResource.from_settings(settings)), transform_assets(settings), *identity_assets()]
    schedules, sensors, jobs = automations(settings)
    return dg.Definitions(
        assets=assets,
        asset_checks=quality_checks(),
        schedules=schedules,
        sensors=sensors,
        jobs=jobs,
        resources=resources,
        executor=dg.multiprocess_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
