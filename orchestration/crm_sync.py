"""The two-way CRM loop in Dagster, visible in the asset graph without a cycle:

    raw/crm/* (pull) -> crm_sync/contact_edits (reconcile) -> staging -> identity -> profiles
        -> activation/<audience>/membership -> activation/crm/contacts (push)

- job `crm_loop` runs exactly that chain (other sources' loads are left out: identity reads
  their staging models as they are), hourly by the schedule `crm_loop_hourly`, and sooner
  when the sensor `crm_changes` sees contacts modified in the CRM by someone other than the
  platform (it polls the CRM's search API);
- the sensor `crm_loop_failures` records every failed loop run as an observation on the push
  asset (shown on its page) and in the log;
- the CRM's raw tables carry a freshness policy: warn past two hours without a pull.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import dagster as dg

from activations.crm.config import CrmSyncConfig
from orchestration.policy import DUCKDB_WRITERS_POOL, INGEST_GROUP
from orchestration.redaction import redacted_errors
from orchestration.resources import CrmApiResource, PlatformResource

RECONCILE_KEY = dg.AssetKey(["crm_sync", "contact_edits"])
HISTORY_KEY = dg.AssetKey(["crm_sync", "contact_field_history"])
PUSH_KEY = dg.AssetKey(["activation", "crm", "contacts"])
RAW_CONTACTS = dg.AssetKey(["raw", "crm", "contacts"])
PUSH_CHECK = "crm_writes_are_permitted"
CRM_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=6), warn_window=timedelta(hours=2))
CRM_LOOP_JOB = "crm_loop"
SENSOR_LOOKBACK = timedelta(days=2)  # own writes the change sensor compares with


def crm_destination(config: CrmSyncConfig, crm_api: CrmApiResource) -> Any:
    from activations.crm.client import CrmDestination
    from activations.destinations.base import RateLimit

    limit = RateLimit(*config.rate_limit) if config.rate_limit else None
    return CrmDestination("crm", crm_api.base_url, crm_api.access_token, fields=config.written,
                          object_type=config.object_type, property_group=config.property_group,
                          batch_size=config.batch_size, rate_limit=limit)


def crm_sync_assets(config: CrmSyncConfig, upstream_of_push: list[dg.AssetKey]) -> list[dg.AssetsDefinition]:
    @dg.multi_asset(
        specs=[
            dg.AssetSpec(RECONCILE_KEY, deps=[RAW_CONTACTS], group_name=INGEST_GROUP,
                         automation_condition=dg.AutomationCondition.eager(),
                         description="After each CRM pull: each contact modification and whose it was (an edit "
                                     "made in the CRM, or the platform's own push coming back); platform-owned "
                                     "fields edited in the CRM (crm_sync.field_conflicts); contacts deleted in the "
                                     "CRM (crm_sync.deleted_contacts)."),
            dg.AssetSpec(HISTORY_KEY, deps=[RAW_CONTACTS], group_name=INGEST_GROUP,
                         automation_condition=dg.AutomationCondition.eager(),
                         description="Each value a synced contact property took, and whose it was: staging leaves "
                                     "out the values the platform itself wrote."),
        ],
        name="crm_reconcile",
        pool=DUCKDB_WRITERS_POOL,
    )
    def crm_reconcile(context: dg.AssetExecutionContext, platform: PlatformResource) -> Iterator[dg.MaterializeResult]:
        from activations.crm.sync import reconcile

        with redacted_errors(platform.redactor), platform.warehouse() as warehouse:
            report = reconcile(warehouse, config, run_id=context.run.run_id)
        context.log.info("CRM reconcile: %s", report.counts())
        rows = "\n".join(f"| {c['contact_id']} | {c['field']} | {c['resolution']} |" for c in report.conflicts[:20])
        counts = {name: dg.MetadataValue.int(value) for name, value in report.counts().items()}
        yield dg.MaterializeResult(asset_key=RECONCILE_KEY, metadata={
            **{name: value for name, value in counts.items() if name != "changed_values"},
            # contact ids and field names only: values can be personal data
            "conflicts_sample": dg.MetadataValue.md(
                "| contact | platform field edited in the CRM | resolution |\n|---|---|---|\n"
                + (rows or "| (none) | | |")),
        })
        yield dg.MaterializeResult(asset_key=HISTORY_KEY, metadata={"changed_values": counts["changed_values"]})

    @dg.asset(
        key=PUSH_KEY,
        deps=[RECONCILE_KEY, HISTORY_KEY, *upstream_of_push],
        group_name="activation",
        pool=DUCKDB_WRITERS_POOL,
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[dg.AssetCheckSpec(PUSH_CHECK, asset=PUSH_KEY, blocking=True,
                                       description="Every contact written this run belongs to an active, "
                                                   "unsuppressed customer.")],
        description="Writes platform-owned fields (customer id, lifetime value, RFM segment, audiences, last seen, "
                    "propensities when built) and, by the last-writer rule, shared fields to CRM contacts; creates "
                    "contacts only for customers the create rule allows (activations/crm_sync.yml).",
        metadata={"fields": ", ".join(spec.name for spec in config.written)},
    )
    def crm_contacts(context: dg.AssetExecutionContext, platform: PlatformResource, crm_api: CrmApiResource):
        from activations.crm.sync import DESTINATION, blocked_customers, push

        client = crm_destination(config, crm_api)
        with redacted_errors(platform.redactor):
            created = client.ensure_properties()
        if created:
            context.log.info("created CRM properties %s", ", ".join(created))
        with redacted_errors(platform.redactor), platform.warehouse() as warehouse:
            report, plan = push(warehouse, config, client, run_id=context.run.run_id)
            sent = warehouse.query(
                "select distinct customer_id from activation.activation_ledger where sync_run_id = ?"
                " and destination = ? and status = 'sent' and operation in ('add', 'update')",
                (context.run.run_id, DESTINATION))
            refused = sorted(blocked_customers(warehouse, sent["customer_id"].astype(str)))
        context.log.info("CRM push: %s", report.counts())
        yield dg.MaterializeResult(metadata={
            **{name: dg.MetadataValue.int(value) for name, value in report.counts().items()},
            "contacts_to_create": dg.MetadataValue.int(plan.creates),
            "not_created": dg.MetadataValue.json(plan.not_created),
            "shared_fields_crm_kept": dg.MetadataValue.int(plan.crm_kept),
            "shared_fields_platform_won": dg.MetadataValue.int(plan.platform_won),
            "conflicts_kept": dg.MetadataValue.int(plan.kept_conflicts),
            "properties_created": dg.MetadataValue.int(len(created)),
        })
        yield dg.AssetCheckResult(
            check_name=PUSH_CHECK, passed=not refused, severity=dg.AssetCheckSeverity.ERROR,
            description="every written contact's customer is active and unsuppressed" if not refused
            else f"{len(refused)} written contact(s) belong to inactive or suppressed customers, e.g. {refused[0]}",
            metadata={"refused": dg.MetadataValue.int(len(refused))})

    return [crm_reconcile, crm_contacts]


def crm_loop_job(other_sources: list[str]) -> Any:
    # the CRM's loads are one dlt op: take all its tables (and their staging) together
    selection = dg.AssetSelection.assets(PUSH_KEY).upstream() | dg.AssetSelection.key_prefixes(["raw", "crm"]) \
        | dg.AssetSelection.key_prefixes(["staging", "crm"])
    for source in other_sources:
        selection = selection - dg.AssetSelection.key_prefixes(["raw", source]) \
            - dg.AssetSelection.key_prefixes(["staging", source])
    return dg.define_asset_job(CRM_LOOP_JOB, selection=selection,
                               description="The two-way CRM loop: pull, reconcile, identity, profiles, push.")


def crm_automations(job: Any, redactor: Any = None) -> tuple[list, list]:
    """The loop's schedule and sensors. `redactor` (an `activations.governance.redaction.Redactor`;
    default: mask) scrubs the errors the failure sensor records: they can quote data values."""
    from activations.governance.redaction import REDACT

    redactor = redactor or REDACT
    schedule = dg.ScheduleDefinition(name="crm_loop_hourly", job=job, cron_schedule="15 * * * *",
                                     execution_timezone="UTC", description="The whole CRM loop, hourly.")

    @dg.sensor(
        name="crm_changes",
        job=job,
        minimum_interval_seconds=120,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Polls the CRM's search API for contacts modified since it last looked and starts the CRM loop "
                    "when one was changed by someone other than the platform.",
    )
    def crm_changes(context: dg.SensorEvaluationContext, crm_api: CrmApiResource,
                    platform: PlatformResource) -> dg.SensorResult | dg.SkipReason:
        changed = crm_changes_since(crm_api.base_url, crm_api.access_token,
                                    int(context.cursor) if context.cursor else None)
        if changed is None:
            return dg.SkipReason("the CRM did not answer; will look again")
        latest, contacts = changed
        if context.cursor is None:
            return dg.SensorResult(skip_reason="first look: remembering where the CRM is", cursor=str(latest))
        if not contacts:
            return dg.SkipReason("no contact modified in the CRM since the last look")
        try:
            own = own_writes(platform)
        except Exception as error:  # noqa: BLE001 - a busy DuckDB file: look again next tick
            return dg.SkipReason(f"cannot read the platform's own writes yet ({type(error).__name__}); will look again")
        outside = [cid for cid, updated in contacts if updated not in own.get(cid, ())]
        if not outside:
            return dg.SensorResult(skip_reason=f"{len(contacts)} modification(s), all the platform's own writes",
                                   cursor=str(latest))
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"crm-changes:{latest}",
                                                           tags={"crm_changed_contacts": str(len(outside))})],
                               cursor=str(latest))

    @dg.run_failure_sensor(name="crm_loop_failures", monitored_jobs=[job],
                           default_status=dg.DefaultSensorStatus.RUNNING,
                           description="Records every failed CRM loop run on the push asset.")
    def crm_loop_failures(context: dg.RunFailureSensorContext) -> None:
        message = context.failure_event.message or "the run failed"
        steps = context.instance.all_logs(context.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        errors = [f"{entry.dagster_event.step_key}: {_root_cause(entry.dagster_event.step_failure_data.error)}"
                  for entry in steps if entry.dagster_event and entry.dagster_event.step_failure_data.error]
        if errors:
            message = f"{message} {'; '.join(errors)}"
        message = redactor.text(message)  # an error can quote a value (a server's answer, a failed cast)
        context.log.error("CRM loop run %s failed: %s", context.dagster_run.run_id, message)
        context.instance.report_runless_asset_event(dg.AssetObservation(
            asset_key=PUSH_KEY, metadata={"failed_run_id": context.dagster_run.run_id, "failure": message[:2000],
                                          "failed_at": datetime.now(timezone.utc).isoformat()}))

    return [schedule], [crm_changes, crm_loop_failures]


def _root_cause(error: Any) -> str:
    """The innermost error of a step failure (Dagster wraps the op's exception)."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return error.message.strip()


def crm_changes_since(base_url: str, token: str, after_ms: int | None,
                      limit: int = 100) -> tuple[int, list[tuple[str, str]]] | None:
    """(latest modification seen in epoch ms, [(contact id, updatedAt)] modified after `after_ms`),
    or None when the CRM cannot be reached. With no `after_ms`, only the latest modification."""
    import requests

    from activations.crm.sync import crm_value

    if after_ms is None:
        body: dict[str, Any] = {"sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
                                "properties": ["lastmodifieddate"], "limit": 1}
    else:
        body = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GT",
                                               "value": str(after_ms)}]}],
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                "properties": ["lastmodifieddate"], "limit": limit}
    try:
        response = requests.post(f"{base_url.rstrip('/')}/crm/v3/objects/contacts/search", json=body,
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except requests.RequestException:
        return None
    if response.status_code >= 500 or response.status_code == 429:
        return None
    response.raise_for_status()
    results = response.json().get("results", [])
    contacts = [(str(item["id"]), crm_value(item.get("updatedAt"), "datetime")) for item in results]
    stamps = [int(datetime.fromisoformat(updated.replace("Z", "+00:00")).timestamp() * 1000)
              for _, updated in contacts if updated]
    latest = max(stamps, default=after_ms or 0)
    return latest, ([] if after_ms is None else contacts)


def own_writes(platform: PlatformResource) -> dict[str, set[str]]:
    """contact id -> `updatedAt` values the CRM answered to the platform's recent writes."""
    from activations.crm.sync import own_acknowledgements

    with platform.warehouse(read_only=True) as warehouse:
        return own_acknowledgements(warehouse, datetime.now(timezone.utc) - SENSOR_LOOKBACK)


def crm_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The CRM's raw tables warn past two hours without a pull (fail past six)."""
    if spec.key.path[:2] == ["raw", "crm"]:
        return dg.apply_freshness_policy(spec, CRM_FRESHNESS)
    return spec
