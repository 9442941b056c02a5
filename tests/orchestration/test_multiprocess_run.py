"""A real multiprocess run from the CLI: DuckDB writers queue in their pool instead of colliding."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
from orchestration.cli import prepare_dagster_home
from orchestration.settings import Settings

pytestmark = pytest.mark.e2e
# two sources' loads, quality gates and staging models: DuckDB writers that would collide without
# the pool. (Each step is a process loading the definitions, ~12 s on 2 cores, and the pool runs
# writers one at a time: the whole platform job takes over 10 minutes this way, so
# tests/test_end_to_end.py materializes all of it in process instead.)
SELECTION = ",".join([
    "raw/crm/contacts", "raw/crm/companies", "raw/events/events",
    # owners too: the contacts' relationship test to them runs with the contacts
    "staging/crm/stg_crm__contacts", "staging/crm/stg_crm__owners", "staging/events/stg_events__events",
])


def test_the_platform_job_runs_with_the_multiprocess_executor(world_copy: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", world_dir=world_copy)
    dagster_home = prepare_dagster_home(settings)
    CrmStore(settings.crm_db_path).seed_from_jsonl(settings.crm_seed_dir)
    with CrmServer(settings.crm_db_path, token="mp-token") as server:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "CDP_HOME": str(settings.home),
            "CDP_WORLD_DIR": str(world_copy),
            "CDP_CRM_BASE_URL": server.base_url,
            "CDP_CRM_TOKEN": "mp-token",
        }
        result = subprocess.run(
            ["dagster", "asset", "materialize", "-m", "orchestration.definitions", "--select", SELECTION],
            env=env, capture_output=True, text=True, timeout=600,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "RUN_SUCCESS" in output
    assert "multiprocess" in output
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from staging.stg_crm__contacts").fetchone()[0] > 0
        assert con.execute("select count(*) from staging.stg_events__events").fetchone()[0] > 0
