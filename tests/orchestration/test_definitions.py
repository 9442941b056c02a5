"""The code location loads, with the promised keys, groups, lineage, pools and automation."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest

from dlt_sources.pipelines import SOURCES
from orchestration.definitions import build_definitions
from orchestration.policy import DUCKDB_WRITERS_POOL
from orchestration.settings import Settings

RAW_TABLES = {
    "events": ["events"],
    "crm": ["contacts", "companies", "deals", "deal_contacts", "owners", "archived_contacts"],
    "commerce": ["stores", "customers", "orders", "order_lines"],
    "email": ["email_events"],
    "support": ["tickets"],
    "lists": ["list_members"],
}


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    home = tmp_path_factory.mktemp("home")
    return build_definitions(Settings(home=home))


def test_the_code_location_loads(defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(defs)


def test_every_source_table_is_a_raw_asset_in_the_ingest_group(defs: dg.Definitions) -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    expected = {dg.AssetKey(["raw", source, table]) for source, tables in RAW_TABLES.items() for table in tables}
    raw = {key for key in specs if key.path[0] == "raw"}
    assert raw == expected
    assert set(RAW_TABLES) == set(SOURCES)
    assert {specs[key].group_name for key in raw} == {"ingest"}


def test_dbt_models_are_keyed_and_grouped_by_folder(defs: dg.Definitions) -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    staging = [key for key in specs if key.path[0] == "staging"]
    assert dg.AssetKey(["staging", "events", "stg_events__events"]) in staging
    for key in staging:
        assert specs[key].group_name == "staging"
        assert key.path[2].startswith(f"stg_{key.path[1]}__")


def test_every_raw_table_flows_into_a_staging_model(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if key.path[0] != "raw":
            continue
        downstream = graph.get(key).child_keys
        assert any(child.path[0] == "staging" for child in downstream), f"{key.to_user_string()} feeds no staging model"


def test_every_raw_asset_has_a_blocking_gate_and_a_warnings_check(defs: dg.Definitions) -> None:
    specs = {(spec.asset_key, spec.name): spec for checks in defs.asset_checks for spec in checks.check_specs}
    for source, tables in RAW_TABLES.items():
        for table in tables:
            key = dg.AssetKey(["raw", source, table])
            assert specs[(key, "quality_gate")].blocking, key
            assert not specs[(key, "quality_warnings")].blocking, key


def test_every_warehouse_writer_runs_in_the_duckdb_pool(defs: dg.Definitions) -> None:
    for assets_def in defs.assets:
        assert assets_def.node_def.pool == DUCKDB_WRITERS_POOL, assets_def.node_def.name
    for checks_def in defs.asset_checks:
        assert checks_def.node_def.pool == DUCKDB_WRITERS_POOL, checks_def.node_def.name


def test_schedules_sensor_and_jobs(defs: dg.Definitions) -> None:
    assert defs.resolve_schedule_def("platform_daily").cron_schedule == "0 3 * * *"
    assert defs.resolve_schedule_def("crm_loop_hourly").cron_schedule == "15 * * * *"
    crm_keys = {key.to_user_string() for key in defs.resolve_job_def("crm_loop").asset_layer.selected_asset_keys}
    # the loop: the CRM's loads and staging only (other sources are read as they are) ...
    assert {key.split("/")[1] for key in crm_keys if key.startswith(("raw/", "staging/"))} == {"crm"}
    assert {key for key in crm_keys if key.startswith(("raw/", "staging/"))} == {
        *(f"raw/crm/{table}" for table in RAW_TABLES["crm"]),
        *(f"staging/crm/stg_crm__{table}" for table in RAW_TABLES["crm"]),
    }
    # ... reconcile after the pull, the audiences' membership and the push at the end
    assert {"crm_sync/contact_edits", "activation/crm/contacts", "activation/rfm_champions/membership"} <= crm_keys
    assert not any(key.startswith("activation/") and key.split("/")[-1] not in ("membership", "contacts")
                   for key in crm_keys)
    # a pull rebuilds what depends on it: identity, its health, profiles; profiles wait for
    # the health asset, so its blocking checks stop them
    graph = defs.resolve_asset_graph()
    assert dg.AssetKey(["identity", "identity_health"]) in graph.get(
        dg.AssetKey(["profiles", "customer_traits"])).parent_keys
    assert {"identity/customer_records", "identity/identity_health", "profiles/customer_profiles"} <= crm_keys
    for source in ("events", "email", "support", "lists"):
        keys = defs.resolve_job_def(f"ingest_{source}").asset_layer.selected_asset_keys
        assert {key.path[1] for key in keys} == {source}
    # the loop has no cycle: the push is downstream of the reconcile step, never upstream
    push, reconcile = dg.AssetKey(["activation", "crm", "contacts"]), dg.AssetKey(["crm_sync", "contact_edits"])
    assert reconcile in set(graph.upstream_key_iterator(push))
    assert push not in set(graph.upstream_key_iterator(reconcile))
    assert dg.AssetKey(["raw", "crm", "contacts"]) in graph.get(reconcile).parent_keys
    assert defs.resolve_sensor_def("crm_changes") and defs.resolve_sensor_def("crm_loop_failures")
    policy = graph.get(dg.AssetKey(["raw", "crm", "contacts"])).freshness_policy
    assert policy is not None and policy.warn_window.to_timedelta().total_seconds() == 2 * 3600


def test_landing_sensor_requests_a_load_for_new_files_only(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", world_dir=tmp_path / "world")
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("landing_folders")
    instance = dg.DagsterInstance.ephemeral()

    def evaluate(cursor: str | None) -> dg.SensorResult:
        with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
            return sensor(context)

    first = evaluate(None)
    assert first.run_requests == []
    events = settings.landing("events")
    events.mkdir(parents=True)
    (events / "new.jsonl").write_text('{"messageId": "m"}\n')
    second = evaluate(first.cursor)
    assert [request.job_name for request in second.run_requests] == ["ingest_events"]
    assert evaluate(second.cursor).run_requests == []
    later = time.time() + 5
    (settings.landing("lists")).mkdir(parents=True)
    (settings.landing("lists") / "l.csv").write_text("Email\n")
    os.utime(settings.landing("lists") / "l.csv", (later, later))
    third = evaluate(second.cursor)
    assert [request.job_name for request in third.run_requests] == ["ingest_lists"]
    assert json.loads(third.cursor)["lists"] == pytest.approx(later)


def test_every_audience_model_gets_membership_and_activation_assets(defs: dg.Definitions) -> None:
    specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    audiences = {key.path[1] for key in specs if key.path[0] == "audiences" and not key.path[1].startswith("int_")}
    assert {"rfm_champions", "at_risk_customers", "hibernating_customers", "cart_abandoners", "lapsed_buyers",
            "new_subscribers"} <= audiences
    for audience in audiences:
        membership = dg.AssetKey(["activation", audience, "membership"])
        assert dg.AssetKey(["audiences", audience]) in {d.asset_key for d in specs[membership].deps}
    champions = specs[dg.AssetKey(["activation", "rfm_champions", "ad_platform"])]
    assert {d.asset_key for d in champions.deps} >= {
        dg.AssetKey(["audiences", "rfm_champions"]), dg.AssetKey(["profiles", "customer_consent"]),
        dg.AssetKey(["activation", "rfm_champions", "membership"])}
    assert champions.group_name == "activation" and champions.automation_condition is not None
    # lapsed buyers wait for at-risk customers: the higher priority of their exclusive group
    lapsed = specs[dg.AssetKey(["activation", "lapsed_buyers", "email_platform"])]
    assert dg.AssetKey(["audiences", "at_risk_customers"]) in {d.asset_key for d in lapsed.deps}
    checks = defs.resolve_asset_graph().asset_check_keys
    assert dg.AssetCheckKey(champions.key, "sent_rows_have_consent") in checks
    schedule = defs.resolve_schedule_def("activate_cart_abandoners")
    assert schedule.cron_schedule == "15 * * * *"


def test_a_misconfigured_destination_fails_the_definitions_with_its_name(tmp_path: Path) -> None:
    from activations.config import ActivationConfigError

    bad = tmp_path / "destinations.yml"
    bad.write_text((Path(__file__).parents[2] / "activations" / "destinations.yml").read_text()
                   .replace("batch_size: 500\n    rate_limit", "batch_size: 5000\n    rate_limit", 1))
    with pytest.raises(ActivationConfigError, match="destination 'email_platform': batch_size 5000 is above"):
        build_definitions(Settings(home=tmp_path, destinations_file=bad))
