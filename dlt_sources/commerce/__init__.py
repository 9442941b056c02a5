"""Commerce and point-of-sale orders, read from the POS database with dlt's `sql_database` source.

Stores, loyalty customers, orders and order lines are mutable records: each table is read
incrementally on `updated_at` and merged on its primary key. The embedded default is a
SQLite file; any SQLAlchemy URL works (`postgresql://...`, `mysql://...`).
"""

from __future__ import annotations

from typing import Any

import dlt
from dlt.sources.sql_database import sql_table

from dlt_sources.commerce.settings import CHUNK_SIZE, CURSOR_COLUMN, TABLES


@dlt.source(name="commerce")
def commerce_source(
    credentials: str = dlt.secrets.value,
    tables: tuple[str, ...] = tuple(TABLES),
    backend: str = "pyarrow",
) -> Any:
    """The POS database at `credentials` (a SQLAlchemy URL); tables are reflected when read."""
    unknown = [name for name in tables if name not in TABLES]
    if unknown:
        raise ValueError(f"unknown commerce table(s) {unknown}; known: {list(TABLES)}")
    for table in tables:
        yield sql_table(
            credentials=credentials,
            table=table,
            incremental=dlt.sources.incremental(CURSOR_COLUMN),
            primary_key=TABLES[table],
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            backend=backend,
            chunk_size=CHUNK_SIZE,
            reflection_level="full_with_precision",
            defer_table_reflect=True,
        )
