"""Benchmark: syncing an audience of N members to the email platform, then a 1 % change.

Builds a DuckDB warehouse holding what activation reads (active customers, email consent,
an audience model's table of N members with five fields; 95 % consented), then runs the
platform's own activation (`activations.runner.activate`: consent filter, diff against the
state table, transactional outbox, ledger) against the local email platform over HTTP
(batches of 500, the platform's limit; no client rate limit, so the figures are the
platform's own cost, not a throttle) and, for comparison, the Parquet file destination:

1. initial sync of every consented member;
2. the same audience again (nothing changed: no request);
3. a 1 % change: 0.5 % of members change a field, 0.25 % leave, 0.25 % join.

Each sync is preceded by a dry run of the same plan, timed on its own as "diff" (read the
audience and the state, apply consent, compute the changes). Prints rows per second, requests
and peak memory (the process's ru_maxrss):

    uv run python benchmarks/activation_sync.py --members 1000000

Record the figures, with the machine, in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from activations.config import ActivationConfig, audiences_from_manifest, load_destinations
from activations.destinations.esp import EspDestination
from activations.destinations.files import FileDestination
from activations.runner import activate
from dlt_sources.sample_world.sandbox.esp import EspServer
from expectations.warehouse import connect

AUDIENCE = "bench_audience"
FIELDS = ["email", "first_name", "last_name", "rfm_segment"]


def build_warehouse(path: Path, members: int) -> None:
    with duckdb.connect(str(path)) as con:
        for schema in ("identity", "profiles", "audiences"):
            con.execute(f"create schema if not exists {schema}")
        con.execute(f"""create or replace table identity.identity_customers as
            select 'c' || lpad(cast(i as varchar), 9, '0') as customer_id, 'active' as status
            from range({int(members * 1.01) + 1}) t(i)""")
        con.execute("""create or replace table profiles.customer_consent as
            select customer_id, 'email' as channel, (hash(customer_id) % 20) <> 0 as granted
            from identity.identity_customers""")
        con.execute(f"""create or replace table audiences.{AUDIENCE} as
            select customer_id, 'person' || substr(customer_id, 2) || '@mail.test' as email,
                   'First' || substr(customer_id, 5) as first_name, 'Last' as last_name,
                   'champions' as rfm_segment
            from identity.identity_customers where cast(substr(customer_id, 2) as bigint) < {members}""")


def change_one_percent(path: Path, members: int) -> None:
    """0.5 % change a field, 0.25 % leave, 0.25 % join (customer ids past the first N)."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"update audiences.{AUDIENCE} set first_name = first_name || '-changed'"
                    f" where cast(substr(customer_id, 2) as bigint) % 200 = 7")
        con.execute(f"delete from audiences.{AUDIENCE} where cast(substr(customer_id, 2) as bigint) % 400 = 3")
        con.execute(f"""insert into audiences.{AUDIENCE}
            select customer_id, 'person' || substr(customer_id, 2) || '@mail.test', 'First', 'Last', 'champions'
            from identity.identity_customers where cast(substr(customer_id, 2) as bigint) >= {members}
            limit {members // 400}""")


def config_for(home: Path) -> ActivationConfig:
    destinations = load_destinations(home=home, env={})
    node = {"resource_type": "model", "name": AUDIENCE, "schema": "audiences", "alias": AUDIENCE,
            "fqn": ["opencdp", "audiences", AUDIENCE], "columns": {c: {} for c in ("customer_id", *FIELDS)},
            "config": {"meta": {"audience": {"destinations": {
                "email_platform": {"mode": "mirror", "fields": FIELDS},
                "exports": {"mode": "mirror", "fields": FIELDS}}}}}}
    return ActivationConfig(destinations, audiences_from_manifest({"nodes": {AUDIENCE: node}}, destinations))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_step(label: str, warehouse, config, destination: str, client, run_id: str, requests_of) -> None:
    started = time.perf_counter()
    planned = activate(warehouse, config, AUDIENCE, destination, client, run_id=f"{run_id}-plan", dry_run=True)
    diff_seconds = time.perf_counter() - started
    before = requests_of()
    started = time.perf_counter()
    report = activate(warehouse, config, AUDIENCE, destination, client, run_id=run_id)
    seconds = time.perf_counter() - started
    changed = report.added + report.updated + report.removed
    assert changed == len(planned.plan), (changed, len(planned.plan))
    print(f"  {label:<26}{diff_seconds:>8.1f}{seconds:>9.1f}{changed:>11,}{changed / seconds:>10,.0f}"
          f"{requests_of() - before:>10,}{report.skipped_consent:>10,}{peak_mib():>10,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, help="kept afterwards if given")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-activation-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}, DuckDB {duckdb.__version__}")
    print(f"audience: {args.members:,} members, 95 % with email consent; warehouse in {workdir}")
    config = config_for(workdir)
    header = (f"  {'step':<26}{'diff s':>8}{'sync s':>9}{'changes':>11}{'rows/s':>10}{'requests':>10}"
              f"{'no consent':>10}{'peak MiB':>10}")
    token = "bench-token"
    with EspServer(token) as esp:
        esp.create_list(AUDIENCE, merge_fields=("FNAME", "LNAME", "SEGMENT"))
        targets = {
            "email_platform (HTTP, 500 per batch)": (
                "email_platform", EspDestination("email_platform", esp.base_url, token, email_field="email",
                                                 merge_fields={"FNAME": "first_name", "LNAME": "last_name",
                                                               "SEGMENT": "rfm_segment"}),
                lambda: len(esp.requests)),
            "exports (Parquet files, 100,000 per file)": (
                "exports", FileDestination("exports", workdir / "exports", file_format="parquet"),
                lambda: sum(1 for _ in (workdir / "exports").rglob("*.parquet"))),
        }
        for title, (destination, client, requests_of) in targets.items():
            path = workdir / f"{destination}.duckdb"
            path.unlink(missing_ok=True)
            build_warehouse(path, args.members)
            print(f"\n{title}")
            print(header)
            with connect("duckdb", duckdb_path=path) as warehouse:
                run_step("initial sync", warehouse, config, destination, client, "initial", requests_of)
                run_step("no change", warehouse, config, destination, client, "same", requests_of)
            change_one_percent(path, args.members)
            with connect("duckdb", duckdb_path=path) as warehouse:
                run_step("1 % change", warehouse, config, destination, client, "change", requests_of)
        print(f"\nemail platform holds {len(esp.members(AUDIENCE)):,} members")


if __name__ == "__main__":
    sys.exit(main())
