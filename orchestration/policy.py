"""Cross-cutting policy named once: groups, the DuckDB writers pool, automation conditions."""

from __future__ import annotations

import dagster as dg

INGEST_GROUP = "ingest"
GOVERNANCE_GROUP = "governance"
# DuckDB has one writer at a time: every asset that writes the warehouse runs in this pool,
# whose limit is 1 (see orchestration/dagster.yaml), so a multiprocess run never hits the file lock.
DUCKDB_WRITERS_POOL = "duckdb_writers"

# Downstream models refresh when their upstreams have new data, never while one is running.
EAGER = dg.AutomationCondition.eager()
