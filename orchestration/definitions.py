"""The code location: assembles ingestion, transformation and automation, and applies policy."""

from __future__ import annotations

import dagster as dg

from orchestration.activation import activation_definitions
from orchestration.automation import automations
from orchestration.identity import identity_assets
from orchestration.ingest import ingest_assets
from orchestration.quality import quality_checks
from orchestration.resources import PlatformResource, build_resources
from orchestration.settings import Settings
from orchestration.transform import dbt_project, ensure_manifest, transform_assets


def build_definitions(settings: Settings) -> dg.Definitions:
    resources = build_resources(settings)
    activation, audience_schedules = activation_definitions(ensure_manifest(dbt_project(), settings), settings)
    assets = [*ingest_assets(PlatformResource.from_settings(settings)), transform_assets(settings), *identity_assets(),
              *activation]
    schedules, sensors, jobs = automations(settings)
    return dg.Definitions(
        assets=assets,
        asset_checks=quality_checks(),
        schedules=[*schedules, *audience_schedules],
        sensors=sensors,
        jobs=jobs,
        resources=resources,
        executor=dg.multiprocess_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
