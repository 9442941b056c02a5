"""The code location: assembles ingestion, transformation and automation, and applies policy."""

from __future__ import annotations

import warnings

import dagster as dg

from activations.crm.config import load_crm_sync_config
from dlt_sources.pipelines import SOURCES
from orchestration.activation import activation_definitions, load_activation_config, membership_key
from orchestration.automation import automations
from orchestration.crm_sync import crm_automations, crm_freshness, crm_loop_job, crm_sync_assets
from orchestration.governance import governance_assets, governed_config_files, load_retention, retention_automations
from orchestration.identity import identity_assets
from orchestration.ingest import ingest_assets
from orchestration.privacy import privacy_assets, privacy_automations
from orchestration.quality import quality_checks
from orchestration.resources import PlatformResource, build_resources
from orchestration.settings import Settings
from orchestration.transform import dbt_project, ensure_manifest, transform_assets

# what the CRM push reads besides the audiences' membership
CRM_PUSH_UPSTREAM = [dg.AssetKey(["profiles", "customer_profiles"]), dg.AssetKey(["identity", "customer_records"]),
                     dg.AssetKey(["staging", "crm", "stg_crm__contacts"])]


def build_definitions(settings: Settings) -> dg.Definitions:
    resources = build_resources(settings)
    manifest = ensure_manifest(dbt_project(), settings)
    activation, audience_schedules = activation_definitions(manifest, settings)
    crm_config = load_crm_sync_config()
    activation_config = load_activation_config(manifest, settings)
    audiences = activation_config.audiences
    crm = crm_sync_assets(crm_config, [*CRM_PUSH_UPSTREAM, *(membership_key(name) for name in audiences)])
    # the audit-log view waits for the activation syncs and the CRM push (they record their batches)
    audited = [key for assets_def in [*activation, *crm] for key in assets_def.keys if key.path[0] == "activation"]
    governance = governance_assets(load_retention(settings), governed_config_files(settings), audited)
    assets = [*ingest_assets(PlatformResource.from_settings(settings)), transform_assets(settings), *identity_assets(),
              *activation, *crm, *governance, *privacy_assets(activation_config, crm_config)]
    schedules, sensors, jobs = automations(settings)
    loop = crm_loop_job([source for source in SOURCES if source != "crm"])
    loop_schedules, loop_sensors = crm_automations(loop, settings.redactor)
    retention_job, retention_schedule = retention_automations()
    privacy_job, privacy_schedule = privacy_automations()
    definitions = dg.Definitions(
        assets=assets,
        asset_checks=quality_checks(),
        schedules=[*schedules, *loop_schedules, *audience_schedules, retention_schedule, privacy_schedule],
        sensors=[*sensors, *loop_sensors],
        jobs=[*jobs, loop, retention_job, privacy_job],
        resources=resources,
        executor=dg.multiprocess_executor,
    )
    with warnings.catch_warnings():  # map_asset_specs is a preview API in this Dagster
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return definitions.map_asset_specs(func=crm_freshness)


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
