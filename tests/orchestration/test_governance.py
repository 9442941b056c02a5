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
from orchestration.governance import (
    AUDIT_LOG_KEY,
    CONFIG_AUDIT_KEY,
    CONSENT_AUDIT_KEY,
    IDENTITY_AUDIT_KEY,
    RETENTION_KEY,
    governance_assets,
)
from orchestration.policy import DUCKDB_WRITERS_POOL
from orchestration.privacy import PRIVACY_JOB, PRIVACY_KEY, PRIVACY_SCHEDULE
from orchestration.resources import PlatformResource
from orchestration.settings import PROJECT_ROOT, Settings


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    return build_definitions(Settings(home=tmp_path_factory.mktemp("home")))


def test_the_governance_assets_job_and_schedule_are_in_the_definitions(defs: dg.Definitions) -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    audits = {RETENTION_KEY, IDENTITY_AUDIT_KEY, CONSENT_AUDIT_KEY, CONFIG_AUDIT_KEY}
    governance = {key for key, spec in specs.items() if spec.group_name == "governance"}
    # the masked twins of the curated models (dbt, models/governance/masked), each after its model
    masked = {dg.AssetKey(["governance", "masked", f"{model}_masked"]): model for model in curated_models()}
    assert governance - set(masked) == {*audits, AUDIT_LOG_KEY, PRIVACY_KEY}
    assert set(masked) <= governance
    graph = defs.resolve_asset_graph()
    for key, model in masked.items():
        assert {parent.path[-1] for parent in graph.get(key).parent_keys} == {model}, key
    assert defs.resolve_job_def(PRIVACY_JOB) and defs.resolve_schedule_def(PRIVACY_SCHEDULE).cron_schedule == "15 * * * *"
    # the view comes after every audit and every activation sync (they record their batches)
    view_deps = {dep.asset_key for dep in specs[AUDIT_LOG_KEY].deps}
    assert audits <= view_deps
    syncs = {key for key in specs if key.path[0] == "activation" and key.path[-1] != "membership"}
    assert dg.AssetKey(["activation", "crm", "contacts"]) in syncs and syncs <= view_deps
    assert {dep.asset_key for dep in specs[IDENTITY_AUDIT_KEY].deps} == {
        dg.AssetKey(["identity", "identity_merge_history"])}
    assert {dep.asset_key for dep in specs[CONSENT_AUDIT_KEY].deps} == {dg.AssetKey(["profiles", "customer_consent"])}
    assert set(specs[CONFIG_AUDIT_KEY].metadata["files"].value) == {"destinations", "retention", "crm_sync",
                                                                   "dbt_project"}
    pools = {key: assets_def.node_def.pool for assets_def in defs.assets for key in assets_def.keys}
    assert {pools[key] for key in (*audits, AUDIT_LOG_KEY)} == {DUCKDB_WRITERS_POOL}
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

    governed = tmp_path / "retention.yml"
    governed.write_text("retention:\n  events/events: {keep_days: 30}\n")
    result = dg.materialize(governance_assets(config, {"retention": governed}),
                            resources={"platform": PlatformResource.from_settings(settings)})

    assert result.success
    materialized = {event.asset_key: event.materialization.metadata
                    for event in result.get_asset_materialization_events()}
    metadata = materialized[RETENTION_KEY]
    assert metadata["rows_purged"].value == 12
    assert metadata["rows_purged/raw_events.events"].value == 4
    assert metadata["rows_purged/raw_events.events__properties__products"].value == 8
    assert metadata["skipped_not_loaded"].value == ["email/email_events"]
    assert "| raw_events.events | 4 |" in metadata["tables"].value
    # identity and consent are not built here: nothing to audit; the governed file is seen for the first time
    assert materialized[IDENTITY_AUDIT_KEY]["merges_audited"].value == 0
    assert materialized[CONSENT_AUDIT_KEY]["consent_changes"].value == 0
    assert materialized[CONFIG_AUDIT_KEY]["files_changed"].value == 1
    assert "| retention | (first seen) |" in materialized[CONFIG_AUDIT_KEY]["changes"].value
    view = materialized[AUDIT_LOG_KEY]
    assert view["events_last_24h"].value == 3
    assert "| retention.purge | 2 |" in view["by_action_last_24h"].value
    assert "| config.change | 1 |" in view["by_action_last_24h"].value
    latest = view["latest_events"].value.splitlines()
    assert latest[0] == "| when (UTC) | action | subject | detail | actor |" and len(latest) == 2 + 3
    (config_row,) = [row for row in latest if "| config.change | config_file:retention |" in row]
    assert '"file":"retention"' in config_row and config_row.endswith("| system |")
    with DuckDBWarehouse(settings.warehouse_path) as warehouse:
        assert warehouse.query("select count(*) as n from raw_events.events")["n"].iloc[0] == 4
        log = audit.read(warehouse)
    assert sorted(log["subject_id"]) == ["raw_events.events", "raw_events.events__properties__products", "retention"]
    # the table shows the newest first
    assert [row.split(" | ")[1] for row in latest[2:]] == list(reversed(log["action"]))
    assert set(log["run_id"]) == {result.run_id}
