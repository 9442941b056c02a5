"""Ingestion assets: one dlt multi-asset per source, each table an asset `raw/<source>/<table>`."""


from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from activations.governance import tombstones
from dlt_sources.pipelines import SOURCES, SourceSpec
from orchestration.policy import DUCKDB_WRITERS_POOL, INGEST_GROUP
from orchestration.redaction import redacted_errors
from orchestration.resources import CrmApiResource, PlatformResource

class RawZoneTranslator(DagsterDltTranslator):
    """Keys raw tables as `raw/<source>/<table>` in the `ingest` group."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        spec = super().get_asset_spec(data)
        source = data.pipeline.pipeline_name.removeprefix("cdp_") if data.pipeline else "unknown"
        table = data.resource.table_name if isinstance(data.resource.table_name, str) else data.resource.name
        return spec.replace_attributes(
            key=dg.AssetKey(["raw", source, table]),
            group_name=INGEST_GROUP,
            deps=[],
            kinds={"dlt", data.destination.destination_name if data.destination else "duckdb"},
            tags={"zone": "raw", "source": source},
            description=(data.resource.__doc__ or spec.description or "").strip() or None,
        )


def _definition_source(spec: SourceSpec) -> Any:
    """The source as Dagster sees it when building definitions: placeholders, no I/O."""
    if spec.kind == "landing":
        return spec.factory(bucket_url="file:///unused")
    if spec.kind == "api":
        return spec.factory(base_url="http://127.0.0.1/", access_token="unused")
    return spec.factory(credentials="sqlite:///:memory:")


def _run_source(spec: SourceSpec, platform: PlatformResource, crm_api: CrmApiResource) -> Any:
    if spec.kind == "landing":
        return spec.factory(bucket_url=platform.landing(spec.name))
    if spec.kind == "api":
        from activations.crm.config import load_crm_sync_config

        # the CRM sync's fields too, so the reconcile step sees the CRM's side of them
        return spec.factory(base_url=crm_api.base_url, access_token=crm_api.access_token,
                            extra_contact_properties=tuple(load_crm_sync_config().pulled_properties))
    return spec.factory(credentials=platform.pos_database_url)


def _source_assets(spec: SourceSpec, platform: PlatformResource) -> dg.AssetsDefinition:
    @dlt_assets(
        dlt_source=_definition_source(spec),
        dlt_pipeline=platform.pipeline(spec.name),
        name=f"load_{spec.name}",
        dagster_dlt_translator=RawZoneTranslator(),
        pool=DUCKDB_WRITERS_POOL,
        op_tags={"source": spec.name},
    )
    def _load(
        context: dg.AssetExecutionContext,
        dlt: DagsterDltResource,
        platform: PlatformResource,
        crm_api: CrmApiResource,
    ) -> Iterator[Any]:
        from dlt_sources.tombstones import DropCounter, drop_tombstoned

        hashes = tombstone_hashes(platform)
        counter = DropCounter()
        with redacted_errors(platform.redactor):  # dlt's errors can quote the rows they failed on
            source = drop_tombstoned(_run_source(spec, platform, crm_api), hashes, counter,
                                     default_region=platform.default_phone_region)
            for event in dlt.run(
                context=context,
                dlt_source=source,
                dlt_pipeline=platform.pipeline(spec.name),
                loader_file_format=platform.loader_file_format,
            ):
                yield with_tombstone_metadata(event, spec.name, counter, len(hashes))
        if counter.total:
            context.log.info("tombstones: %s record(s) of deleted people dropped from %s", counter.total, spec.name)

    _load.__doc__ = f"Loads {spec.description} into `{spec.dataset}`."
    return _load


def tombstone_hashes(platform: PlatformResource) -> set[str]:
    """The hashes of `governance.tombstones`, read before a load (the connection is closed before
    dlt writes: DuckDB has one writer); none before the warehouse exists."""
    if platform.target == "duckdb" and not Path(platform.warehouse_path).exists():
        return set()
    with platform.warehouse() as warehouse:
        return tombstones.hashes(warehouse)


def with_tombstone_metadata(event: Any, source: str, counter: Any, tombstones_in_force: int) -> Any:
    """The load's result per raw table with how many records tombstones dropped (a count, never values)."""
    if not isinstance(event, dg.MaterializeResult) or event.asset_key is None:
        return event
    table = event.asset_key.path[-1]
    return event._replace(metadata={  # every other field of the result kept as it is
        **(event.metadata or {}),
        "dropped_by_tombstones": dg.MetadataValue.int(counter.of(source, table)),
        "tombstones_in_force": dg.MetadataValue.int(tombstones_in_force),
    })


def ingest_assets(platform: PlatformResource) -> list[dg.AssetsDefinition]:
    """The load assets; `platform` names the pipelines and destination shown in the UI."""
    return [_source_assets(spec, platform) for spec in SOURCES.values()]
