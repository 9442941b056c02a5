"""The end-to-end demo: a sample world through every asset, with a summary of what was built."""

from __future__ import annotations

import csv
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
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
    warned_checks: list[str] = field(default_factory=list)
    evaluated_checks: set[str] = field(default_factory=set)
    quarantined: dict[tuple[str, str, str], int] = field(default_factory=dict)


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
    destinations: Any = None,
) -> DemoResult:
    """Generates a world, runs every asset against the local CRM and the local destinations
    (`destinations`, a running `LocalDestinations`, or started here) and prints a summary.

    Profiles and audiences are computed as of the world's end (CDP_PROFILES_AS_OF, unless set),
    so "the last 24 hours" of cart abandoners is the world's last day."""
    from dlt_sources.sample_world import generate_world
    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
    from orchestration.local_destinations import local_destinations
    from orchestration.transform import dbt_project, ensure_manifest

    started = time.perf_counter()
    if fresh:
        reset(settings)
    echo(f"1/3 generating a sample world of {people:,} people (seed {seed}) in {settings.world_dir}")
    summary = generate_world(settings.world_dir, people=people, seed=seed)
    if not settings.profiles_as_of:
        settings = replace(settings, profiles_as_of=summary["end"])
    if not settings.crm_db_path.exists():
        CrmStore(settings.crm_db_path).seed_from_jsonl(settings.crm_seed_dir)
    token = os.environ.setdefault("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN)
    with ExitStack() as stack:
        server = stack.enter_context(CrmServer(settings.crm_db_path, token=token, port=0))
        if destinations is None:
            destinations = stack.enter_context(local_destinations(ensure_manifest(dbt_project(), settings), settings))
        run_settings = replace(settings, crm_base_url=server.base_url)
        echo(f"2/3 materializing every asset (local CRM API on {server.base_url}; local email platform, ad platform"
             f" and webhook for the audiences; profiles as of {settings.profiles_as_of})")
        if instance is None:
            from orchestration.cli import prepare_dagster_home

            instance = dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))
        result = materialize_all(run_settings, instance)
        held = destinations.holdings(activation_config(settings))
    evaluations = [
        event.event_specific_data for event in result.all_events if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    failed = [e for e in evaluations if not e.passed]
    outcome = DemoResult(
        success=result.success and not any(e.severity == dg.AssetCheckSeverity.ERROR for e in failed),
        seconds=time.perf_counter() - started,
        failed_checks=[_check_name(e) for e in failed if e.severity == dg.AssetCheckSeverity.ERROR],
        warned_checks=[_check_name(e) for e in failed if e.severity != dg.AssetCheckSeverity.ERROR],
        evaluated_checks={_check_name(e) for e in evaluations},
    )
    echo("3/3 summary")
    outcome.raw_rows, outcome.model_rows = warehouse_counts(settings.warehouse_path)
    outcome.quarantined = quarantine_counts(settings.warehouse_path)
    truth = GroundTruth.read(settings.world_dir / "ground_truth")
    truth.count_held(settings.warehouse_path)
    echo(summary_text(outcome, truth, settings))
    echo(identity_text(settings))
    echo(activation_text(settings, held))
    echo(crm_text(settings))
    return outcome


def activation_config(settings: Settings) -> Any:
    from orchestration.activation import load_activation_config
    from orchestration.transform import dbt_project, ensure_manifest

    return load_activation_config(ensure_manifest(dbt_project(), settings), settings)


def activation_text(settings: Settings, held: dict[tuple[str, str], int]) -> str:
    """Per audience: members, and per destination what the last sync did and what the destination holds."""
    lines = ["", f"{'audience -> destination':<42}{'members':>8}{'in sync':>9}{'added':>7}{'removed':>9}"
                 f"{'failed':>8}{'held there':>12}"]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = {name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'activation'").fetchall()}
        if "sync_runs" not in tables:
            return "activation: nothing synced (see failed checks above)"
        sizes = dict(con.execute("select audience, size from activation.audience_sizes"
                                 " qualify row_number() over (partition by audience order by measured_at desc) = 1"
                                 ).fetchall()) if "audience_sizes" in tables else {}
        runs = con.execute(
            "select audience, destination, added + updated + unchanged, added, removed, failed + dead"
            " from activation.sync_runs where destination <> 'crm'"
            " qualify row_number() over (partition by audience, destination"
            " order by started_at desc) = 1 order by audience, destination").fetchall()
    for audience, destination, consented, added, removed, failed in runs:
        there = held.get((audience, destination))
        lines.append(f"  {f'{audience} -> {destination}':<40}{sizes.get(audience, 0):>8,}{consented:>9,}{added:>7,}"
                     f"{removed:>9,}{failed:>8,}{'' if there is None else f'{there:,}':>12}")
    lines.append("  (in sync: members the destination acknowledged, i.e. with consent for its channel and not held"
                 " by a higher-priority audience; held there: what the local stand-in holds now)")
    return "\n".join(lines)


def crm_text(settings: Settings) -> str:
    """What the CRM push did and what the last reconcile recognized."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        runs = con.execute("select added, updated, removed, failed + dead, unchanged, requests from activation.sync_runs"
                           " where destination = 'crm' order by started_at desc limit 1").fetchall() \
            if con.execute("select count(*) from information_schema.tables where table_schema = 'activation'"
                           " and table_name = 'sync_runs'").fetchone()[0] else []
        if not runs:
            return "CRM sync: nothing pushed (see failed checks above)"
        created = con.execute("select count(*) from activation.activation_ledger where destination = 'crm'"
                              " and status = 'sent' and acknowledgement like '%\"created\": true%'").fetchone()[0]
    added, updated, removed, failed, unchanged, requests = runs[0]
    return (f"\nCRM sync (two-way): {added + updated:,} contacts written ({created:,} created for consented customers,"
            f" the rest updated), {removed:,} cleared, {failed:,} failed, {unchanged:,} already in step;"
            f" {requests:,} requests. The next pull recognizes these writes as the platform's own.")


def identity_text(settings: Settings) -> str:
    """Customers resolved, against the ground truth, and what merge protection did."""
    from dlt_sources.sample_world.evaluation import (
        as_the_records_show, bad_record_keys, pairwise_score, read_truth)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        present = {name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'identity'").fetchall()}
        if "customer_records" not in present:
            return "identity: not built (see failed checks above)"
        predicted = dict(con.execute("select record_ref, customer_id from identity.customer_records").fetchall())
        identifiers = con.execute("select record_ref, identifier_type, identifier_key from identity.identity_identifiers"
                                  " where not is_blocked").fetchall()
        customers = con.execute("select count(*) from identity.identity_customers where status = 'active'").fetchone()[0]
        by_resolution = con.execute("select resolution, count(*) from identity.customer_records group by 1 order by 1").fetchall()
        dropped = con.execute("select drop_rule, count(*) from identity.identity_dropped_links group by 1 order by 1").fetchall()
        pending = (con.execute("select count(*) from identity.identity_review_queue where status = 'pending'").fetchone()[0]
                   if "identity_review_queue" in present else 0)
        profiles = (con.execute("select count(*) from profiles.customer_profiles").fetchone()[0]
                    if con.execute("select count(*) from information_schema.tables where table_schema = 'profiles'"
                                   " and table_name = 'customer_profiles'").fetchone()[0] else None)
    ground_truth = settings.world_dir / "ground_truth"
    truth = read_truth(ground_truth, bad_record_keys(ground_truth))
    people = sum(1 for _ in (ground_truth / "people.csv").open()) - 1
    lines = ["", "identity resolution (dbt identity models + Splink)"]
    lines.append(f"  customers {customers:,} for {people:,} true people"
                 + (f"; customer_profiles rows {profiles:,}" if profiles is not None else ""))
    lines.append("  records by resolution: " + ", ".join(f"{name} {n:,}" for name, n in by_resolution))
    lines.append("  vs ground truth, as the records show it: " + str(pairwise_score(as_the_records_show(truth, identifiers), predicted)))
    lines.append("  raw (device-only events of unknown or shared devices too): " + str(pairwise_score(truth, predicted)))
    lines.append("  links dropped by merge protection: " + (", ".join(f"{rule} {n:,}" for rule, n in dropped) or "none"))
    lines.append(f"  review queue pending: {pending:,} (cdp identity review list)")
    return "\n".join(lines)


def _check_name(evaluation: Any) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


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


def quarantine_counts(warehouse: Path) -> dict[tuple[str, str, str], int]:
    """Quarantined records (distinct business keys) by source, table and reason."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'quality' and table_name = 'quarantine'"
        ).fetchone()[0]
        if not exists:
            return {}
        rows = con.execute(
            "select source, table_name, reason, count(distinct row_key) from quality.quarantine"
            " where released_at is null group by all order by all"
        ).fetchall()
    return {(source, table, reason): count for source, table, reason, count in rows}


# ground-truth table names that differ from the raw table they load into
RAW_TABLE_OF = {("lists", "event_attendees"): "list_members"}


@dataclass
class GroundTruth:
    records: Counter = field(default_factory=Counter)  # (source, table) -> records
    bad_keys: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (source, table) -> planted bad keys
    bad_kinds: Counter = field(default_factory=Counter)  # (source, raw table, kind) -> planted bad rows
    held: Counter = field(default_factory=Counter)  # (source, table) -> good records held with a bad parent

    @classmethod
    def read(cls, folder: Path) -> GroundTruth:
        truth = cls()
        if (folder / "records.csv").exists():
            with (folder / "records.csv").open(newline="") as handle:
                for row in csv.DictReader(handle):
                    truth.records[(row["source"], row["table"])] += 1
        if (folder / "bad_rows.csv").exists():
            with (folder / "bad_rows.csv").open(newline="") as handle:
                for row in csv.DictReader(handle):
                    table = (row["source"], row["table"])
                    truth.bad_keys.setdefault(table, set()).add(row["record_key"])
                    truth.bad_kinds[(row["source"], RAW_TABLE_OF.get(table, row["table"]), row["kind"])] += 1
        return truth

    def clean(self, table: tuple[str, str]) -> int:
        """Records the clean zone should hold: all but the planted bad ones."""
        return self.records[table] - len(self.bad_keys.get(table, ())) - self.held[table]

    def count_held(self, warehouse: Path) -> None:
        """Order lines of a planted bad order wait in quarantine with it (their own rows are good)."""
        bad_orders = sorted(self.bad_keys.get(("commerce", "orders"), ()))
        bad_lines = self.bad_keys.get(("commerce", "order_lines"), set())
        if not bad_orders:
            return
        with duckdb.connect(str(warehouse), read_only=True) as con:
            lines = con.execute(
                f"select line_id from raw_commerce.order_lines where order_id in ({', '.join('?' for _ in bad_orders)})",
                bad_orders,
            ).fetchall()
        self.held[("commerce", "order_lines")] = sum(1 for (line,) in lines if line not in bad_lines)


def summary_text(outcome: DemoResult, truth: GroundTruth, settings: Settings) -> str:
    lines = ["", "raw zone (loaded by dlt, as received)            rows"]
    lines += [f"  {name:<44} {count:>10,}" for name, count in outcome.raw_rows.items()]
    lines += ["", "quarantine (quality gates)                        rows   planted bad rows"]
    for (source, table, reason), count in sorted({**dict.fromkeys(truth.bad_kinds, 0), **outcome.quarantined}.items()):
        planted = truth.bad_kinds.get((source, table, reason), 0)
        flag = "" if planted == count else "  MISMATCH"
        lines.append(f"  {f'{source}.{table}: {reason}':<44} {count:>10,}   {planted:,}{flag}")
    lines += ["", "clean zone (dbt staging models)                   rows   ground truth (records - bad)"]
    for name, count in outcome.model_rows.items():
        key = STAGING_TRUTH.get(name.split(".", 1)[1])
        expected = f"{truth.clean(key):,}" + ("" if truth.clean(key) == count else "  MISMATCH") if key else ""
        lines.append(f"  {name:<44} {count:>10,}   {expected}")
    lines.append("")
    if outcome.warned_checks:
        lines.append(f"checks with warnings: {', '.join(outcome.warned_checks)}")
    if outcome.failed_checks:
        lines.append(f"failed checks: {', '.join(outcome.failed_checks)}")
    lines.append(
        f"{'OK' if outcome.success else 'FAILED'} in {outcome.seconds:.0f} s; warehouse {settings.warehouse_path}"
    )
    lines.append("open the Dagster UI on these runs with: uv run cdp ui")
    return "\n".join(lines)
