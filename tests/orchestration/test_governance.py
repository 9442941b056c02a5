"""Governance in the code location: the retention asset, its job and daily schedule, the audit-log view."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import dlt
import pytest

from activations.governance import audit
from activations.governance.masking import curated_models
from activations.governance.retention import RetentionConfigError, parse_retention_config
from expectations.warehouse import DuckDBWarehouse
from orchestration.definitions import build_definitions
from orchestration.governance import AUDIT_LOG_KEY, RETENTION_KEY, governance_assets
from orchestration.policy import DUCKDB_WRITERS_POOL
from orchestration.resources import PlatformResource
from orchestration.settings import PROJECT_ROOT, Settings


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    return build_definitions(Settings(home=tmp_path_factory.mktemp("home")))


def test_the_governance_assets_job_and_schedule_are_in_the_definitions(defs: dg.Definitions) -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    governance = {key for key, spec in specs.items() if spec.group_name == "governance"}
    # the masked twins of the curated models (dbt, models/governance/masked), each after its model
    masked = {dg.AssetKey(["governance", "masked", f"{model}_masked"]): model for model in curated_models()}
    assert governance - set(masked) == {RETENTION_KEY, AUDIT_LOG_KEY}
    assert set(masked) <= governance
    graph = defs.resolve_asset_graph()
    for key, model in masked.items():
        assert {parent.path[-1] for parent in graph.get(key).parent_keys} == {model}, key
    assert RETENTION_KEY in {dep.asset_key for dep in specs[AUDIT_LOG_KEY].deps}
    pools = {key: assets_def.node_def.pool for assets_def in defs.assets for key in assets_def.keys}
    assert pools[RETENTION_KEY] == pools[AUDIT_LOG_KEY] == DUCKDB_WRITERS_POOL
    schedule = defs.resolve_schedule_def("retention_daily")
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == ("30 4 * * *", "UTC",
                                                                                      "retention")
    assert defs.resolve_job_def("retention").asset_layer.selected_asset_keys == {RETENTION_KEY}


def test_the_retention_file_comes_from_the_settings_and_a_bad_one_fails_the_definitions(tmp_path: Path) -> None:
    assert Settings.from_env({}).retention_file == PROJECT_ROOT / "activations" / "retention.yml"
    bad = tmp_path / "retention.yml"
    bad.write_text("retention:\n  events/events: {keep_days: 0}\n  webshop/orders: {keep_days: 30}\n")
    settings = Settings.from_env({"CDP_HOME": str(tmp_path / "home"), "CDP_RETENTION_FILE": str(bad)})
    assert settings.retention_file == bad
    with pytest.raises(RetentionConfigError) as error:
        build_definitions(settings)
    assert str(bad) in str(error.value)
    assert "table 'events/events': keep_days must be a positive whole number of days, got 0" in str(error.value)
    assert "table 'webshop/orders': unknown source 'webshop'" in str(error.value)


def test_materializing_retention_purges_reports_per_table_and_the_audit_view_counts_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    pipeline = dlt.pipeline("governance_events", destination=dlt.destinations.duckdb(str(settings.warehouse_path)),
                            dataset_name="raw_events", pipelines_dir=str(tmp_path / "pipelines"))
    products = {"products": [{"sku": "a"}, {"sku": "b"}]}
    pipeline.run([{"message_id": f"m{n}", "properties": products} for n in range(4)], table_name="events")
    pipeline.run([{"message_id": f"m{n}", "properties": products} for n in range(10, 14)], table_name="events")
    now = datetime.now(timezone.utc)
    with DuckDBWarehouse(settings.warehouse_path) as warehouse:
        old = warehouse.query("select min(load_id) as id from raw_events._dlt_loads")["id"].iloc[0]
        warehouse.execute("update raw_events._dlt_loads set inserted_at = ? where load_id = ?",
                          (now - timedelta(days=40), old))
    config = parse_retention_config({"retention": {"events/events": {"keep_days": 30},
                                                   "email/email_events": {"keep_days": 30}}})

    result = dg.materialize(governance_assets(config), resources={"platform": PlatformResource.from_settings(settings)})

    assert result.success
    materialized = {event.asset_key: event.materialization.metadata
                    for event in result.get_asset_materialization_events()}
    metadata = materialized[RETENTION_KEY]
    assert metadata["rows_purged"].value == 12
    assert metadata["rows_purged/raw_events.events"].value == 4
    assert metadata["rows_purged/raw_events.events__properties__products"].value == 8
    assert metadata["skipped_not_loaded"].value == ["email/email_events"]
    assert "| raw_events.events | 4 |" in metadata["tables"].value
    view = materialized[AUDIT_LOG_KEY]
    assert view["events_last_24h"].value == 2
    assert "| retention.purge | 2 |" in view["by_action_last_24h"].value
    with DuckDBWarehouse(settings.warehouse_path) as warehouse:
        assert warehouse.query("select count(*) as n from raw_events.events")["n"].iloc[0] == 4
        log = audit.read(warehouse)
    assert list(log["subject_id"]) == ["raw_events.events", "raw_events.events__properties__products"]
    assert set(log["run_id"]) == {result.run_id}
