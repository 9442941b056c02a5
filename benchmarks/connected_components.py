"""What the identity graph's connected-components engine costs on DuckDB, at 1 and 10 million edges.

Builds a synthetic identity-like graph straight in DuckDB: many small components of 2 to 30
nodes (skewed to the small end, as customers' identifier clusters are: random spanning tree
plus a quarter more links, some duplicated in reverse) and three long chains of N/100 links each
(the worst shape for label propagation), all with scrambled ids so that no ordering helps. Then
runs the real macro through `dbt run-operation run_connected_components` in a subprocess and
reports its wall time, passes, pointer jumps, nodes, components and the subprocess' peak memory.
An empty graph is run too: its time is dbt's own start-up (imports, partial parse), shown apart.

    uv run python benchmarks/connected_components.py --edges 1000000 --edges 10000000
    uv run python benchmarks/connected_components.py --edges 1e6,1e7
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parent.parent / "transform"
DBT = Path(sys.executable).parent / "dbt"
CHAINS = 3
# ids: a bijection of the index on 40 bits (multiply by an odd constant, xor-shift, multiply),
# so ids are unique and in no useful order, like hashed identifier keys.
SCRAMBLE = "((xor({m}, {m} >> 20) * 6700417) % 1099511627776)"


def build(path: Path, edges: int) -> dict[str, int]:
    """Schema `graphs`: table `edges` with `edges` rows and the empty table `empty`."""
    chain_links = max(edges // 100, 1) if edges >= 1000 else 0
    small_edges = edges - CHAINS * chain_links
    # A component of s nodes gives s - 1 tree links, s/4 extra links and ~s/20 reversed duplicates;
    # E[s] = 2 + 28 E[u^3] = 9, so ~10.7 rows per component. Generate 10 % more and cut.
    components = math.ceil(small_edges / 10.7 * 1.1) + 1
    with duckdb.connect(str(path)) as con:
        con.execute("create schema graphs")
        con.execute("create table graphs.empty (node_a bigint, node_b bigint)")
        con.execute(f"""
            create table graphs.small as
            with components as (
                select k, 2 + cast(floor(28 * pow((hash(k) % 1000003) / 1000003.0, 3)) as bigint) as size
                from range({components}) as t(k)
            ),
            placed as (
                select k, size, sum(size) over (order by k) - size as first from components
            ),
            members as (
                select k, size, first, unnest(range(size)) as j from placed
            ),
            links as (
                -- random spanning tree: member j links to an earlier member
                select k, j, 0 as kind, first + j as a, first + cast(hash(k, j) % j as bigint) as b
                from members where j > 0
                union all
                -- a quarter more links anywhere in the component (some are self-loops: harmless)
                select k, j, 1, first + j, first + cast(hash(k, j, 7) % size as bigint)
                from members where hash(k, j, 3) % 4 = 0
                union all
                -- the same record pair seen again, the other way round
                select k, j, 2, first + cast(hash(k, j) % j as bigint), first + j
                from members where j > 0 and hash(k, j, 5) % 20 = 0
            )
            select a, b from links order by k, j, kind limit {small_edges}
        """)
        offset = con.execute("select coalesce(max(greatest(a, b)), -1) + 1 from graphs.small").fetchall()[0][0]
        con.execute(f"""
            create table graphs.edges as
            select cast({SCRAMBLE.format(m="((a * 2654435761) % 1099511627776)")} as bigint) as node_a,
                   cast({SCRAMBLE.format(m="((b * 2654435761) % 1099511627776)")} as bigint) as node_b
            from (
                select a, b from graphs.small
                union all
                select {offset} + c * {chain_links + 1} + i, {offset} + c * {chain_links + 1} + i + 1
                from range({CHAINS}) as s(c), range({chain_links}) as t(i)
            ) as indexed
        """)
        con.execute("drop table graphs.small")
        rows = con.execute("select count(*) from graphs.edges").fetchall()[0][0]
    return {"edges": rows, "chain_links": chain_links}


def run_engine(path: Path, work: Path, edges_table: str) -> dict:
    """One `dbt run-operation` in a subprocess: wall time, its own peak RSS (wait4) and the stats."""
    env = {**os.environ, "CDP_TARGET": "duckdb", "CDP_WAREHOUSE_PATH": str(path)}
    args = json.dumps({"edges_table": edges_table, "output_table": f"{edges_table}_components", "schema": "graphs"})
    log_dir = work / f"logs_{edges_table}"
    shutil.rmtree(log_dir, ignore_errors=True)  # dbt appends to dbt.log
    command = [str(DBT), "run-operation", "run_connected_components", "--args", args,
               "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
               "--target-path", str(work / "target"), "--log-path", str(log_dir)]
    with open(work / "stdout.txt", "w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    found = re.search(r"connected_components (\{.*\})", output)
    if process.returncode != 0 or not found:
        raise SystemExit(f"dbt failed ({process.returncode}):\n{output[-4000:]}")
    log = (log_dir / "dbt.log").read_text()
    passes = re.findall(r"pass (\d+), (\d+) label edges left", log)
    return {"seconds": seconds, "engine_seconds": engine_seconds(log), "peak_mib": usage.ru_maxrss / 1024,
            "stats": json.loads(found.group(1)), "edges_left": [int(left) for _, left in passes]}


def engine_seconds(log: str) -> float:
    """From the first statement on a work table to the stats line, by dbt.log's timestamps."""
    records = re.split(r"^\S*?(?=\d\d:\d\d:\d\d\.\d{6} )", log, flags=re.M)  # one per timestamped entry
    stamps = [datetime.strptime(r[:15], "%H:%M:%S.%f") for r in records if '"cc_' in r or "connected_components {" in r]
    return (stamps[-1] - stamps[0]).total_seconds() if stamps else float("nan")


def check(path: Path, chain_links: int, stats: dict) -> str:
    """Cheap invariants: both ends of every edge share a component, each component is named by
    its smallest node, and the largest component is a chain (the small ones have at most 30 nodes)."""
    with duckdb.connect(str(path), read_only=True) as con:
        split = con.execute("""
            select count(*) from graphs.edges as e
            join graphs.edges_components as a on a.node_id = e.node_a
            join graphs.edges_components as b on b.node_id = e.node_b
            where a.component_id <> b.component_id""").fetchall()[0][0]
        misnamed = con.execute("""
            select count(*) from (
                select component_id, min(node_id) as smallest from graphs.edges_components group by component_id
            ) as c where c.smallest <> c.component_id""").fetchall()[0][0]
    problems = [f"{split:,} edges across components"] if split else []
    problems += [f"{misnamed:,} components not named by their smallest node"] if misnamed else []
    if chain_links and stats["largest_component"] != chain_links + 1:
        problems.append(f"largest component {stats['largest_component']:,}, expected a chain of {chain_links + 1:,}")
    return "yes" if not problems else "NO: " + "; ".join(problems)


def edge_counts(values: list[str]) -> list[int]:
    return [int(float(part)) for value in values for part in value.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", action="append", default=None,
                        help="Edge rows to generate; repeat or comma-separate (1e6 works). Default 1000000.")
    parser.add_argument("--workdir", type=Path, default=None, help="Keep the DuckDB files here (default: a temp dir).")
    args = parser.parse_args()
    sizes = edge_counts(args.edges or ["1000000"])

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
          f"python {platform.python_version()}, duckdb {duckdb.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.workdir or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            work = root / f"cc_{size}"
            work.mkdir(exist_ok=True)
            path = work / "warehouse.duckdb"
            path.unlink(missing_ok=True)
            t0 = time.perf_counter()
            built = build(path, size)
            build_s = time.perf_counter() - t0
            run_engine(path, work, "empty")  # warm-up: dbt's first parse of the project
            result = run_engine(path, work, "edges")
            baseline = run_engine(path, work, "empty")
            stats = result["stats"]
            print(f"\n{built['edges']:,} edges ({CHAINS} chains of {built['chain_links']:,} links), built in {build_s:.1f} s")
            print(f"  wall time (dbt run-operation): {result['seconds']:.1f} s"
                  f"  (of which the engine's SQL {result['engine_seconds']:.1f} s;"
                  f" the same call on an empty graph: {baseline['seconds']:.1f} s)")
            print(f"  passes:                        {stats['passes']}")
            print(f"  label edges left per pass:     {', '.join(f'{n:,}' for n in result['edges_left'])}")
            print(f"  pointer jumps:                 {stats['pointer_jumps']}")
            print(f"  nodes:                         {stats['nodes']:,}")
            print(f"  components:                    {stats['components']:,}")
            print(f"  largest component:             {stats['largest_component']:,}")
            print(f"  peak memory (dbt subprocess):  {result['peak_mib']:,.0f} MiB")
            print(f"  warehouse file:                {path.stat().st_size / 2**20:,.0f} MiB")
            print(f"  consistent:                    {check(path, built['chain_links'], stats)}")


if __name__ == "__main__":
    main()
