"""What the quality gate costs: validate one load of N email events and report time per million rows.

Builds `raw_email.email_events` straight in DuckDB (N rows, 0.5 % planted defects, the shape
dlt loads) so the figure is the gate alone: reading the load, Great Expectations on pandas,
quarantine writes and the validation record (Data Docs optional with --docs).

    uv run python benchmarks/quality_gate.py --rows 1000000
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import duckdb


def build(path: Path, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw_email")
        con.execute("create table raw_email._dlt_loads (load_id varchar, schema_name varchar, status bigint, inserted_at timestamptz, schema_version_hash varchar)")
        con.execute("insert into raw_email._dlt_loads values ('1700000000.1', 'email', 0, now(), 'x')")
        con.execute(f"""
            create table raw_email.email_events as
            select
                printf('evt_%09d', i) as event_id,
                (['sent', 'delivered', 'opened', 'clicked', 'bounced', 'unsubscribed'])[1 + i % 6] as event_type,
                case when i % 200 = 1 then printf('person%d.example.com', i)
                     when i % 200 = 2 then null
                     else printf('person%d@example.com', i) end as email,
                case when i % 200 = 2 then null else printf('sub_%d', i) end as subscriber_id,
                'cmp_1' as campaign_id, 'Launch' as campaign_name,
                case when i % 200 = 3 then timestamptz '2099-01-01 00:00:00+00'
                     else timestamptz '2026-01-01 00:00:00+00' + to_seconds(i % 20000000) end as occurred_at,
                null::varchar as link_url,
                case when i % 6 = 4 then 'soft' end as bounce_type,
                '1700000000.1' as _dlt_load_id,
                printf('%016x', i) as _dlt_id
            from range({rows}) t(i)
        """)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--docs", action="store_true", help="Also publish to Data Docs.")
    args = parser.parse_args()

    started = time.perf_counter()
    from expectations.docs import DataDocs
    from expectations.gate import Gate
    from expectations.suites import suites_for
    from expectations.warehouse import DuckDBWarehouse

    import_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        build(path, args.rows)
        with DuckDBWarehouse(path) as warehouse:
            gate = Gate(warehouse, docs=DataDocs(Path(tmp) / "docs") if args.docs else None)
            t0 = time.perf_counter()
            report = gate.validate(suites_for("email")[0])
            seconds = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, python {platform.python_version()}")
    print(f"rows validated:          {report.row_count:,}")
    print(f"expectations:            {len([r for r in report.results if r.applicable])}")
    print(f"rows quarantined:        {report.quarantined_rows:,}")
    print(f"gate passed:             {report.passed}")
    print(f"import (once a process): {import_s:.1f} s")
    print(f"validate one load:       {seconds:.1f} s")
    print(f"cost per million rows:   {seconds / report.row_count * 1e6:.1f} s")
    print(f"peak memory:             {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
