"""The load assets drop tombstoned records before raw and say how many (a count, never values)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from dagster_dlt import DagsterDltResource

from activations.governance import tombstones
from expectations.warehouse import DuckDBWarehouse
from orchestration.ingest import ingest_assets
from orchestration.resources import CrmApiResource, PlatformResource
from orchestration.settings import Settings


def test_the_support_load_drops_a_tombstoned_requester_and_reports_the_count(small_world: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", world_dir=small_world)
    settings.home.mkdir()
    tickets = [json.loads(line) for path in sorted((small_world / "landing" / "support").glob("*.jsonl"))
               for line in path.open() if line.strip()]
    requester = next(t["requester"]["email"] for t in tickets if t["requester"].get("email"))
    email = requester.strip().lower()
    theirs = sum(1 for t in tickets if (t["requester"].get("email") or "").strip().lower() == email)
    with DuckDBWarehouse(settings.warehouse_path) as warehouse:
        tombstones.add(warehouse, [tombstones.identifier("email", email), tombstones.identifier("user_id", "u_x")],
                       request_id="req-1")
    platform = PlatformResource.from_settings(settings)
    support = next(a for a in ingest_assets(platform) if a.op.name == "load_support")

    result = dg.materialize([support], resources={
        "platform": platform, "crm_api": CrmApiResource(base_url="http://127.0.0.1:1/", access_token="unused"),
        "dlt": DagsterDltResource()})

    assert result.success
    metadata = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}
    tickets_meta = metadata[dg.AssetKey(["raw", "support", "tickets"])]
    assert tickets_meta["dropped_by_tombstones"].value == theirs > 0
    assert tickets_meta["tombstones_in_force"].value == 2
    assert email not in json.dumps({k: str(v.value) for k, v in tickets_meta.items()})
    with DuckDBWarehouse(settings.warehouse_path) as warehouse:
        left = warehouse.query("select count(*) as n from raw_support.tickets where lower(trim(requester__email)) = ?",
                               (email,))
        loaded = warehouse.query("select count(*) as n from raw_support.tickets")
    assert left["n"].iloc[0] == 0 and loaded["n"].iloc[0] > 0
