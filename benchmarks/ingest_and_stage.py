"""Benchmark: generate a world of N people, load every source with dlt, build the dbt models.

Prints wall time and rows per second for each step. Usage:

    uv run python benchmarks/ingest_and_stage.py --people 100000

Record the figures, with the machine, in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dlt_sources.pipelines import SOURCES, destination, loader_file_format, make_pipeline
from dlt_sources.sample_world import generate_world
from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
from orchestration.settings import DBT_PROJECT_DIR, LOCAL_CRM_TOKEN, Settings


def report(step: str, seconds: float, rows: int) -> None:
    print(f"{step:<28}{seconds:>10.1f}{rows:>12,}{rows / seconds if seconds else 0:>12,.0f}", flush=True)


def ingest(settings: Settings, people: int, seed: int) -> None:
    """Generates the world, seeds the local CRM and loads every source, reporting each step."""
    print(f"{'step':<28}{'seconds':>10}{'rows':>12}{'rows/s':>12}")
    started = time.perf_counter()
    summary = generate_world(settings.world_dir, people=people, seed=seed)
    report("generate world", time.perf_counter() - started, sum(summary["rows"].values()))

    started = time.perf_counter()
    CrmStore(settings.crm_db_path).seed_from_jsonl(settings.crm_seed_dir)
    report("seed local CRM store", time.perf_counter() - started, summary["rows"].get("crm/contacts", 0))

    dest = destination("duckdb", warehouse_path=settings.warehouse_path)
    with CrmServer(settings.crm_db_path, token=LOCAL_CRM_TOKEN, port=0) as server:
        for name, spec in SOURCES.items():
            if spec.kind == "landing":
                source = spec.factory(bucket_url=str(settings.landing(name)))
            elif spec.kind == "api":
                source = spec.factory(base_url=server.base_url, access_token=LOCAL_CRM_TOKEN)
            else:
                source = spec.factory(credentials=settings.pos_database_url)
            pipeline = make_pipeline(name, dest, settings.pipelines_dir)
            started = time.perf_counter()
            pipeline.run(source, loader_file_format=loader_file_format("duckdb"))
            counts = pipeline.last_trace.last_normalize_info.row_counts
            report(f"load {name}", time.perf_counter() - started, sum(v for k, v in counts.items() if not k.startswith("_dlt")))


def build_staging(settings: Settings, *select: str) -> None:
    """`dbt build` (all models, or `select`), reporting the staging rows it holds afterwards."""
    env = {**os.environ, **settings.dbt_env()}
    started = time.perf_counter()
    subprocess.run(
        ["dbt", "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--quiet",
         *(["--select", *select] if select else [])],
        check=True,
        env=env,
    )
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        models = [row[0] for row in con.execute("select table_name from information_schema.tables where table_schema = 'staging'").fetchall()]
        rows = sum(con.execute(f'select count(*) from staging."{model}"').fetchone()[0] for model in models)
    report(f"dbt build ({len(models)} models)", time.perf_counter() - started, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None, help="kept afterwards if given")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    shutil.rmtree(workdir, ignore_errors=True)
    settings = Settings(home=workdir / "home", world_dir=workdir / "world")

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"world: {args.people:,} people, seed {args.seed}, in {workdir}")
    ingest(settings, args.people, args.seed)
    build_staging(settings, "path:models/staging")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
