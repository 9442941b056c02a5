"""The end-to-end demo: a sample world through every asset, with a summary of what was built."""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orchestration.settings import LOCAL_CRM_TOKEN, Settings

# staging model -> the ground-truth (source, table) it holds exactly one row per record of
STAGING_TRUTH = {
    "stg_events__events": ("events", "events"),
    "stg_crm__contacts": ("crm", "contacts"),
    "stg_commerce__orders": ("commerce", "orders"),
    "stg_commerce__order_lines": ("commerce", "order_lines"),
    "stg_commerce__customers": ("commerce", "customers"),
    "stg_email__email_events": ("email", "email_events"),
    "stg_support__tickets": ("support", "tickets"),
    "stg_lists__list_members": ("lists", "event_attendees"),
}
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class DemoResult:
    success: bool
    seconds: float
    raw_rows: dict[str, int] = field(default_factory=dict)
    model_rows: dict[str, int] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)


def reset(settings: Settings) -> None:
    """Removes the warehouse, dlt pipeline state and sample world (never a folder that is not one)."""
    for path in (settings.warehouse_path, Path(f"{settings.warehouse_path}.wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(settings.pipelines_dir, ignore_errors=True)
    if (settings.world_dir / "ground_truth" / "summary.json").exists():
        shutil.rmtree(settings.world_dir, ignore_errors=True)


def materialize_all(settings: Settings, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """Runs every asset and check in-process (one step at a time, so one DuckDB writer)."""
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False, run_config=QUIET
    )


def run_demo(
    settings: Settings,
    *,
    people: int,
    seed: int,
    fresh: bool = True,
    echo: Callable[[str], Any] = print,
    instance: dg.DagsterInstance | None = None,
) -> DemoResult:
    from dlt_sources.sample_world import generate_world
    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore

    started = time.perf_counter()
    if fresh:
        reset(settings)
    echo(f"1/3 generating a sample world of {people:,} people (seed {seed}) in {settings.world_dir}")
    generate_world(settings.world_dir, people=people, seed=seed)
    if not settings.crm_db_path.exists():
        CrmStore(settings.crm_db_path).seed_from_jsonl(settings.crm_seed_dir)
    token = os.environ.setdefault("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN)
    with CrmServer(settings.crm_db_path, token=token, port=0) as server:
        run_settings = replace(settings, crm_base_url=server.base_url)
        echo(f"2/3 materializing every asset (local CRM API on {server.base_url})")
        if instance is None:
            from orchestration.cli import prepare_dagster_home

            instance = dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))
        result = materialize_all(run_settings, instance)
    failed_checks = [
        f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        for evaluation in (
            event.event_specific_data
            for event in result.all_events
            if event.event_type_value == "ASSET_CHECK_EVALUATION"
        )
        if not evaluation.passed
    ]
    outcome = DemoResult(
        success=result.success and not failed_checks,
        seconds=time.perf_counter() - started,
        failed_checks=failed_checks,
    )
    echo("3/3 summary")
    outcome.raw_rows, outcome.model_rows = warehouse_counts(settings.warehouse_path)
    truth = ground_truth_counts(settings.world_dir / "ground_truth")
    echo(summary_text(outcome, truth, settings))
    return outcome


def warehouse_counts(warehouse: Path) -> tuple[dict[str, int], dict[str, int]]:
    raw: dict[str, int] = {}
    models: dict[str, int] = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'raw\\_%' escape '\\' and table_schema not like '%\\_staging' escape '\\' "
            "and table_name not like '\\_dlt%' escape '\\' or table_schema = 'staging' order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            count = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            (models if schema == "staging" else raw)[f"{schema}.{table}"] = count
    return raw, models


def ground_truth_counts(folder: Path) -> Counter:
    counts: Counter = Counter()
    records = folder / "records.csv"
    if records.exists():
        with records.open(newline="") as handle:
            for row in csv.DictReader(handle):
                counts[(row["source"], row["table"])] += 1
    return counts


def summary_text(outcome: DemoResult, truth: Counter, settings: Settings) -> str:
    lines = ["", "raw zone (loaded by dlt, as received)            rows"]
    lines += [f"  {name:<44} {count:>10,}" for name, count in outcome.raw_rows.items()]
    lines += ["", "clean zone (dbt staging models)                   rows   ground truth"]
    for name, count in outcome.model_rows.items():
        key = STAGING_TRUTH.get(name.split(".", 1)[1])
        expected = f"{truth[key]:,}" + ("" if truth[key] == count else "  MISMATCH") if key else ""
        lines.append(f"  {name:<44} {count:>10,}   {expected}")
    lines.append("")
    if outcome.failed_checks:
        lines.append(f"failed checks: {', '.join(outcome.failed_checks)}")
    lines.append(
        f"{'OK' if outcome.success else 'FAILED'} in {outcome.seconds:.0f} s; warehouse {settings.warehouse_path}"
    )
    lines.append("open the Dagster UI on these runs with: uv run cdp ui")
    return "\n".join(lines)
