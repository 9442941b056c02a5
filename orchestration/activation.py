"""Audiences and activation in Dagster, built from the dbt manifest with no per-audience code.

Every dbt model with `meta.audience` (transform/models/audiences/) gets:
- `activation/<audience>/membership`: who entered and exited this run, the size over time
  (a numeric metadata value, plotted by Dagster) and the traits that moved for a sample;
- `activation/<audience>/<destination>` per destination in its meta: the sync, with metadata
  added / updated / removed / failed / dead / skipped for consent / held by priority, and a
  blocking check that every row it sent is still consented;
- a schedule `activate_<audience>` when its meta has one. Both assets also run on their own
  (eager automation) whenever the audience model is rebuilt.
"""


import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from activations.config import ActivationConfig, AudienceSpec, load_config
from orchestration.policy import DUCKDB_WRITERS_POOL, EAGER
from orchestration.redaction import redacted_errors
from orchestration.resources import PlatformResource
from orchestration.settings import Settings

ACTIVATION_GROUP = "activation"
CONSENT = dg.AssetKey(["profiles", "customer_consent"])
CONSENT_CHECK = "sent_rows_have_consent"


def membership_key(audience: str) -> dg.AssetKey:
    return dg.AssetKey(["activation", audience, "membership"])


def activation_key(audience: str, destination: str) -> dg.AssetKey:
    return dg.AssetKey(["activation", audience, destination])


def load_activation_config(manifest_path: Path, settings: Settings) -> ActivationConfig:
    return load_config(json.loads(Path(manifest_path).read_text()), path=settings.destinations_file,
                       home=settings.home)


def _snapshot_key(manifest_path: Path) -> dg.AssetKey | None:
    nodes = json.loads(Path(manifest_path).read_text()).get("nodes", {})
    for node in nodes.values():
        if node.get("resource_type") == "snapshot" and node.get("name") == "customer_traits_history":
            return dg.AssetKey(list(node["fqn"][1:]))
    return None


def _membership_asset(audience: AudienceSpec, snapshot: dg.AssetKey | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=membership_key(audience.name),
        deps=[dg.AssetKey(list(audience.asset_path)), *([snapshot] if snapshot else [])],
        group_name=ACTIVATION_GROUP,
        automation_condition=EAGER,
        pool=DUCKDB_WRITERS_POOL,
        description=f"Membership history of the audience {audience.name}: entered, exited, size over time.",
    )
    def _membership(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        from activations.runner import record_membership

        with redacted_errors(platform.redactor), platform.warehouse() as warehouse:
            report = record_membership(warehouse, audience, run_id=context.run.run_id)
        rows = "\n".join(f"| {s['customer_id']} | {s['change']} | {s['reason']} |" for s in report.sample)
        context.log.info("audience %s: %s members, %s entered, %s exited", audience.name, report.size,
                         report.entered, report.exited)
        return dg.MaterializeResult(metadata={
            "size": dg.MetadataValue.int(report.size),
            "entered": dg.MetadataValue.int(report.entered),
            "exited": dg.MetadataValue.int(report.exited),
            "why_they_moved_sample": dg.MetadataValue.md(
                "| customer | change | traits that moved |\n|---|---|---|\n" + (rows or "| (nobody moved) | | |")),
        })

    return _membership


def _activation_asset(config: ActivationConfig, audience: AudienceSpec, destination: str) -> dg.AssetsDefinition:
    key = activation_key(audience.name, destination)
    target = audience.target(destination)
    rivals = [dg.AssetKey(list(rival.asset_path)) for rival in config.outranking(audience.name, target)]
    spec = config.destinations[destination]

    @dg.asset(
        key=key,
        deps=[dg.AssetKey(list(audience.asset_path)), CONSENT, membership_key(audience.name), *rivals],
        group_name=ACTIVATION_GROUP,
        automation_condition=EAGER,
        pool=DUCKDB_WRITERS_POOL,
        check_specs=[dg.AssetCheckSpec(CONSENT_CHECK, asset=key, blocking=True,
                                       description=f"Every row sent this run has {spec.channel} consent now.")],
        description=f"Keeps {destination} ({spec.type}, {target.mode}) in step with the audience {audience.name}; "
                    f"sends {', '.join(target.fields)} to members with {spec.channel} consent.",
        metadata={"destination_type": spec.type, "mode": target.mode, "channel": spec.channel,
                  "fields": ", ".join(target.fields)},
    )
    def _activation(context: dg.AssetExecutionContext, platform: PlatformResource):
        from activations.runner import activate, unconsented_sent_rows

        client = spec.build(os.environ)
        with redacted_errors(platform.redactor), platform.warehouse() as warehouse:
            report = activate(warehouse, config, audience.name, destination, client, run_id=context.run.run_id)
            refused = unconsented_sent_rows(warehouse, destination, spec.channel, audience.name, context.run.run_id)
        context.log.info("activation %s -> %s: %s", audience.name, destination, report.counts())
        yield dg.MaterializeResult(metadata={
            name: dg.MetadataValue.int(value) for name, value in report.counts().items()})
        yield dg.AssetCheckResult(
            check_name=CONSENT_CHECK, passed=refused.empty, severity=dg.AssetCheckSeverity.ERROR,
            description="every sent row is consented" if refused.empty else
            f"{len(refused)} sent row(s) lack {spec.channel} consent, e.g. {refused['customer_id'].iloc[0]}",
            metadata={"rows_without_consent": dg.MetadataValue.int(len(refused))})

    return _activation


def activation_definitions(manifest_path: Path, settings: Settings) -> tuple[list[Any], list[dg.ScheduleDefinition]]:
    """Assets and schedules of every audience; fails at load with every configuration problem named."""
    config = load_activation_config(manifest_path, settings)
    snapshot = _snapshot_key(manifest_path)
    assets: list[Any] = []
    schedules = []
    for audience in config.audiences.values():
        assets.append(_membership_asset(audience, snapshot))
        keys = [membership_key(audience.name)]
        for target in audience.targets:
            assets.append(_activation_asset(config, audience, target.destination))
            keys.append(activation_key(audience.name, target.destination))
        if audience.schedule:
            schedules.append(dg.ScheduleDefinition(
                name=f"activate_{audience.name}", cron_schedule=audience.schedule, execution_timezone="UTC",
                target=dg.AssetSelection.assets(dg.AssetKey(list(audience.asset_path)), *keys),
                description=f"Rebuild the audience {audience.name} and sync it to its destinations."))
    return assets, schedules
