"""Benchmark: identity resolution end to end on a sample world of N people, as the platform runs it.

Builds the clean zone (world, dlt loads, staging models: see ingest_and_stage.py), then times
identity resolution in its three steps, each in its own subprocess so its peak memory is its
own (wait4's ru_maxrss):

1. dbt: identifiers, merge protection, deterministic components, match candidates;
2. Splink: candidate pairs scored in the warehouse, auto-merge links and the review queue;
3. dbt: final components, customer ids (registry), merge history, customer records.

It then runs the three steps again on unchanged data (a steady-state hourly run: ids must
not move) and prints identifier rows, records, customers, connected-components passes per
graph, precision and recall against the world's ground truth. About 32 identifier rows per
person, so ~31,000 people give 1 M identifier rows and ~310,000 give 10 M:

    uv run python benchmarks/identity_resolution.py --people 31000
    uv run python benchmarks/identity_resolution.py --people 310000 --workdir /tmp/bench-10m

Record the figures, with the machine, in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from orchestration.settings import DBT_PROJECT_DIR, Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest_and_stage import build_staging, ingest  # noqa: E402

DBT = Path(sys.executable).parent / "dbt"
IDENTITY = "path:models/identity"
BEFORE_MATCHING = ["path:seeds/identity", f"+int_identity__match_candidates,{IDENTITY}"]
AFTER_MATCHING = [f"int_identity__probabilistic_links+,{IDENTITY}"]
MATCHING = (
    "from expectations.warehouse import connect\n"
    "from transform.matching.runner import run_matching\n"
    "with connect('duckdb', duckdb_path={path!r}) as warehouse:\n"
    "    print(run_matching(warehouse).summary())\n"
)


def timed(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Runs `command`; (wall seconds, peak RSS MiB). Exits with its output if it fails."""
    with open(log, "w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            out.seek(0)
            raise SystemExit(f"{' '.join(command[:3])} failed:\n{out.read()[-4000:]}")
    return seconds, usage.ru_maxrss / 1024


def resolve(settings: Settings, work: Path, label: str) -> list[tuple[str, float, float]]:
    """The three steps once; prints and returns (step, seconds, peak MiB)."""
    env = {**os.environ, **settings.dbt_env()}
    dbt = [str(DBT), "build", "--exclude", "resource_type:test", "resource_type:unit_test", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    steps = [
        ("dbt: identifiers .. match candidates", dbt + ["--select", *BEFORE_MATCHING]),
        ("Splink: score candidate pairs", [sys.executable, "-c", MATCHING.format(path=str(settings.warehouse_path))]),
        ("dbt: components .. customer records", dbt + ["--select", *AFTER_MATCHING]),
    ]
    results = []
    print(f"\n{label}\n  {'step':<40}{'seconds':>9}{'peak MiB':>10}")
    for name, command in steps:
        seconds, peak = timed(command, env, work / "step.log")
        results.append((name, seconds, peak))
        print(f"  {name:<40}{seconds:>9.1f}{peak:>10,.0f}", flush=True)
    total = sum(seconds for _, seconds, _ in results)
    print(f"  {'total':<40}{total:>9.1f}{max(peak for *_, peak in results):>10,.0f}")
    return results


def describe(settings: Settings) -> dict[str, object]:
    from dlt_sources.sample_world.evaluation import as_the_records_show, bad_record_keys, pairwise_score, read_truth

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        figures: dict[str, object] = {
            "identifier rows": one("select count(*) from identity.identity_identifiers"),
            "records": one("select count(*) from identity.customer_records"),
            "graph nodes": one("select count(*) from identity.int_identity__nodes"),
            "graph links": one("select count(*) from identity.int_identity__links"),
            "match candidates": one("select count(*) from identity.int_identity__match_candidates"),
            "scored pairs kept": one("select count(*) from identity.identity_match_pairs"),
            "customers (active)": one("select count(*) from identity.identity_customers where status = 'active'"),
            "merge/split events": one("select count(*) from identity.identity_merge_history"),
        }
        runs = con.execute("""
            select model_name, passes, pointer_jumps, nodes, edges, largest_component
            from identity.connected_components_runs
            qualify row_number() over (partition by model_name order by finished_at desc) = 1
            order by started_at""").fetchall()
        predicted = dict(con.execute("select record_ref, customer_id from identity.customer_records").fetchall())
        identifiers = con.execute("select record_ref, identifier_type, identifier_key"
                                  " from identity.identity_identifiers where not is_blocked").fetchall()
    for model, passes, jumps, nodes, edges, largest in runs:
        figures[f"passes: {model}"] = f"{passes} ({jumps} pointer jumps; {nodes:,} nodes, {edges:,} edges, largest {largest:,})"
    ground_truth = settings.world_dir / "ground_truth"
    truth = read_truth(ground_truth, bad_record_keys(ground_truth))
    figures["vs ground truth"] = str(pairwise_score(as_the_records_show(truth, identifiers), predicted))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=31_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="kept afterwards if given; an existing world and warehouse there are reused")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cdp-bench-identity-"))
    settings = Settings(home=workdir / "home", world_dir=workdir / "world")
    work = workdir / "identity"
    work.mkdir(parents=True, exist_ok=True)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()},"
          f" Python {platform.python_version()}, DuckDB {duckdb.__version__}")
    print(f"world: {args.people:,} people, seed {args.seed}, in {workdir}")
    if not settings.warehouse_path.exists():
        ingest(settings, args.people, args.seed)
        build_staging(settings, "path:models/staging")
    else:
        print("reusing the clean zone already built there")
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute("drop schema if exists identity cascade")

    resolve(settings, work, "first run (empty registry)")
    first = describe(settings)
    resolve(settings, work, "second run (same data: nothing may change)")
    second = describe(settings)
    print()
    for key, value in first.items():
        print(f"  {key:<52}{value:,}" if isinstance(value, int) else f"  {key:<52}{value}")
    moved = second["merge/split events"] != first["merge/split events"] or second["customers (active)"] != first["customers (active)"]
    print(f"  {'second run: customers and merge history unchanged':<52}{'no' if moved else 'yes'}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
