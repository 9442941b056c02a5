"""The CRM's staging models (contacts, deals, deal contacts, owners, deletions) on DuckDB and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dlt_sources.crm import crm_source
from dlt_sources.pipelines import destination, loader_file_format, make_pipeline
from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
from orchestration.settings import DBT_PROJECT_DIR, Settings
from tests.postgres_server import PostgresServer, postgres_bin_dir, running_postgres

TOKEN = "crm-staging-token"
SELECT = "source:crm+"
EXCLUDE = ("path:models/identity path:models/crm path:models/profiles path:models/audiences path:snapshots"
           " path:seeds/identity path:models/governance")


def seed_lines(world: Path, name: str) -> list[dict]:
    with (world / "systems" / "crm_seed" / f"{name}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def pull(settings: Settings, server: CrmServer) -> None:
    dest = (
        destination("duckdb", warehouse_path=settings.warehouse_path)
        if settings.target == "duckdb"
        else destination("postgres", postgres_url=settings.postgres.url)
    )
    make_pipeline("crm", dest, settings.pipelines_dir).run(
        crm_source(base_url=server.base_url, access_token=TOKEN), loader_file_format=loader_file_format(settings.target)
    )


def dbt_build(settings: Settings, target_path: Path) -> str:
    result = subprocess.run(
        ["dbt", "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target_path), "--log-path", str(target_path / "logs"), "--select", SELECT, "--exclude", EXCLUDE],
        env={**os.environ, **settings.dbt_env()},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


def rows(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    if settings.target == "duckdb":
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            return con.execute(sql).fetchall()
    import psycopg2

    with psycopg2.connect(settings.postgres.url) as con, con.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def check_staging(settings: Settings, world: Path, archived: set[str], marked: set[str] | None = None) -> None:
    """Staging holds the seed's deals, their contacts and owners; `archived` deleted contacts, of which
    `marked` (default: all) were loaded alive before and are now `is_archived`."""
    deals = seed_lines(world, "deals")
    links = {(link["dealId"], link["contactId"]) for link in seed_lines(world, "deal_contacts")}
    owners = seed_lines(world, "owners")
    assert rows(settings, "select count(*), count(distinct deal_id) from staging.stg_crm__deals")[0] == (len(deals), len(deals))
    won = sum(d["properties"]["dealstage"] == "closedwon" for d in deals)
    assert rows(settings, "select count(*) from staging.stg_crm__deals where is_won and is_closed and closed_at is not null")[0][0] == won
    assert rows(settings, "select count(*) from staging.stg_crm__deals where not is_closed and closed_at is not null")[0][0] == 0
    first = next(d for d in deals if d["properties"]["amount"])
    amount = rows(settings, f"select amount from staging.stg_crm__deals where deal_id = '{first['id']}'")[0][0]
    assert float(amount) == float(first["properties"]["amount"])
    # a deleted contact leaves its deals (which the deletion brought into the next pull)
    live_links = {(deal, contact) for deal, contact in links if contact not in archived}
    assert set(rows(settings, "select deal_id, contact_id from staging.stg_crm__deal_contacts")) == live_links
    assert rows(settings, "select count(*) from staging.stg_crm__owners where email like '%@northwind.example'")[0][0] == len(owners)
    assert {r[0] for r in rows(settings, "select contact_id from staging.stg_crm__archived_contacts")} == archived
    marked = archived if marked is None else marked
    assert {r[0] for r in rows(settings, "select contact_id from staging.stg_crm__contacts where is_archived")} == marked
    assert rows(settings, "select count(*) from staging.stg_crm__contacts where is_archived is null")[0][0] == 0


def test_crm_staging_on_duckdb_before_and_after_the_first_deletion(small_world: Path, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", world_dir=small_world)
    store = CrmStore(settings.home / "crm.sqlite")
    store.seed_from_jsonl(settings.crm_seed_dir)
    with CrmServer(store.path, token=TOKEN) as server:
        pull(settings, server)
        output = dbt_build(settings, tmp_path / "dbt")
        # nothing deleted yet: raw_crm.archived_contacts does not exist, the models build empty
        assert "crm.archived_contacts is not loaded yet" in output
        check_staging(settings, small_world, archived=set())

        for contact in (1004, 1012, 1020):
            store.archive("contacts", contact)
        pull(settings, server)
    # 1020 was restored in the CRM since: the search brought back a version newer than its deletion
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("update raw_crm.contacts set updated_at = now() + interval 1 day where id = '1020'")
    dbt_build(settings, tmp_path / "dbt")
    check_staging(settings, small_world, archived={"1004", "1012", "1020"}, marked={"1004", "1012"})

    # values the platform wrote are no evidence of the person: staging leaves them out
    with duckdb.connect(str(settings.warehouse_path)) as con:
        first, last, city = con.execute("select properties__firstname, properties__lastname, properties__city"
                                        " from raw_crm.contacts where id = '1001'").fetchone()
        assert first and last and city
        con.executemany("insert into crm_sync.contact_field_history values ('1001', ?, ?, ?, ?, now())", [
            ("firstname", first, "2026-01-01", "platform"),   # the platform's, still there: left out
            ("lastname", last, "2026-01-01", "platform"),
            ("lastname", last, "2026-01-02", "crm"),          # confirmed in the CRM since: counts
            ("city", "Elsewhere", "2026-01-01", "platform"),  # the CRM holds another value now: counts
        ])
    assert rows(settings, "select first_name, last_name, city from staging.stg_crm__contacts"
                          " where contact_id = '1001'") == [(None, last.strip(), city.strip())]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.mark.postgres
@pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL server binaries are not installed")
def test_crm_staging_on_postgres(postgres: PostgresServer, small_world: Path, tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "home",
        world_dir=small_world,
        target="postgres",
        postgres=postgres.settings(),
    )
    store = CrmStore(settings.home / "crm.sqlite")
    store.seed_from_jsonl(settings.crm_seed_dir)
    store.archive("contacts", 1004)  # deleted before the first pull: never in raw_crm.contacts
    with CrmServer(store.path, token=TOKEN) as server:
        pull(settings, server)
        store.archive("contacts", 1012)
        pull(settings, server)
    dbt_build(settings, tmp_path / "dbt")
    check_staging(settings, small_world, archived={"1004", "1012"}, marked={"1012"})
    assert rows(settings, "select count(*) from staging.stg_crm__contacts where contact_id = '1004'")[0][0] == 0
