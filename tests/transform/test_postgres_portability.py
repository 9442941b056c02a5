"""The same dlt pipelines and dbt models on a real PostgreSQL server (the `postgres` target)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlt_sources.pipelines import SOURCES, destination, loader_file_format, make_pipeline
from orchestration.settings import DBT_PROJECT_DIR, Settings
from tests.postgres_server import PostgresServer, postgres_bin_dir, running_postgres

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL server binaries are not installed"),
]
OFFLINE_SOURCES = ["events", "commerce", "email", "support", "lists"]  # the CRM needs its API server


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


def test_sources_and_staging_models_build_on_postgres(postgres: PostgresServer, small_world: Path, tmp_path: Path) -> None:
    import psycopg2

    settings = Settings(
        home=tmp_path / "home",
        world_dir=small_world,
        target="postgres",
        postgres=postgres.settings(),
    )
    dest = destination("postgres", postgres_url=settings.postgres.url)
    for name in OFFLINE_SOURCES:
        spec = SOURCES[name]
        source = (
            spec.factory(bucket_url=str(settings.landing(name)))
            if spec.kind == "landing"
            else spec.factory(credentials=settings.pos_database_url)
        )
        make_pipeline(name, dest, settings.pipelines_dir).run(source, loader_file_format=loader_file_format("postgres"))

    selection = " ".join(f"source:{name}+" for name in OFFLINE_SOURCES)
    result = subprocess.run(
        ["dbt", "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(tmp_path / "dbt_target"), "--select", selection,
         # identity and profiles read the CRM too: tests/transform/test_profiles.py builds them on PostgreSQL
         "--exclude", "path:models/identity path:models/crm path:models/profiles path:models/audiences path:snapshots"
         " path:seeds/identity path:models/governance"],
        env={**os.environ, **settings.dbt_env()},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]

    with psycopg2.connect(settings.postgres.url) as con, con.cursor() as cur:
        cur.execute("select count(*), count(distinct message_id) from raw_events.events")
        raw_events, distinct = cur.fetchone()
        cur.execute("select count(*) from staging.stg_events__events")
        assert cur.fetchone()[0] == distinct < raw_events
        cur.execute("select count(*) from staging.stg_commerce__customers where phone !~ '^[+][0-9]{8,15}$'")
        assert cur.fetchone()[0] == 0
        cur.execute("select count(*) from staging.stg_commerce__customers where phone is not null")
        assert cur.fetchone()[0] > 0
