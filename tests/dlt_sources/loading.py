"""Helpers for the source tests: run one source into a temporary DuckDB and read back counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import duckdb

from dlt_sources.pipelines import destination, loader_file_format, make_pipeline


def run_source(source_name: str, source: Any, workdir: Path) -> dict[str, int]:
    """Loads `source` like the platform does and returns the rows loaded per table by this run."""
    pipeline = make_pipeline(source_name, destination("duckdb", warehouse_path=workdir / "wh.duckdb"), workdir / "pipelines")
    pipeline.run(source, loader_file_format=loader_file_format("duckdb"))
    info = pipeline.last_trace.last_normalize_info
    counts = dict(info.row_counts) if info else {}
    return {table: count for table, count in counts.items() if not table.startswith("_dlt")}


def table_count(workdir: Path, table: str, where: str = "true") -> int:
    with duckdb.connect(str(workdir / "wh.duckdb"), read_only=True) as con:
        return con.execute(f"select count(*) from {table} where {where}").fetchone()[0]


def query(workdir: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(workdir / "wh.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def jsonl_lines(folder: Path) -> int:
    return sum(1 for path in folder.rglob("*.jsonl") for line in path.open() if line.strip())


def dev_pipeline(name: str, workdir: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        name,
        destination=dlt.destinations.duckdb(str(workdir / "wh.duckdb")),
        dataset_name=f"raw_{name}",
        pipelines_dir=str(workdir / "pipelines"),
    )
