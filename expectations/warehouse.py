"""A small, portable connection to the warehouse for the gates: DuckDB (embedded) or PostgreSQL.

SQL passed in is written once, portable, with `?` placeholders; the PostgreSQL connection
rewrites them to psycopg2's `%s`. Query results come back as pandas DataFrames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

# Column types as catalogs spell them -> the dlt data type families the suites declare.
_TYPE_FAMILIES = (
    ("timestamp", "timestamp"),
    ("json", "json"),
    ("char", "text"),
    ("text", "text"),
    ("bool", "bool"),
    ("bigint", "bigint"),
    ("integer", "bigint"),
    ("smallint", "bigint"),
    ("double", "double"),
    ("real", "double"),
    ("float", "double"),
    ("decimal", "decimal"),
    ("numeric", "decimal"),
    ("date", "date"),
    ("time", "time"),
    ("blob", "binary"),
    ("bytea", "binary"),
)


def type_family(catalog_type: str) -> str:
    lowered = catalog_type.lower()
    for needle, family in _TYPE_FAMILIES:
        if needle in lowered:
            return family
    return lowered


class Warehouse(Protocol):
    dialect: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def insert_frame(self, table: str, frame: pd.DataFrame) -> None: ...

    def stage_keys(self, name: str, frame: pd.DataFrame) -> None: ...

    def close(self) -> None: ...


class _Base:
    dialect = ""

    def columns(self, schema: str, table: str) -> dict[str, str]:
        """Column name -> catalog type, in table order; empty when the table does not exist."""
        frame = self.query(  # type: ignore[attr-defined]
            "select column_name, data_type from information_schema.columns"
            " where table_schema = ? and table_name = ? order by ordinal_position",
            (schema, table),
        )
        return dict(zip(frame["column_name"], frame["data_type"]))

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self.columns(schema, table))

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]


class DuckDBWarehouse(_Base):
    dialect = "duckdb"

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        import duckdb

        self.con = duckdb.connect(str(path), read_only=read_only)

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.con.execute(sql, list(params)).df()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    def insert_frame(self, table: str, frame: pd.DataFrame) -> None:
        self.con.register("_incoming_frame", frame)
        try:
            columns = ", ".join(frame.columns)
            self.con.execute(f"insert into {table} ({columns}) select {columns} from _incoming_frame")
        finally:
            self.con.unregister("_incoming_frame")

    def stage_keys(self, name: str, frame: pd.DataFrame) -> None:
        """A temporary table `name` of text columns holding `frame`."""
        self.con.register("_incoming_keys", frame.astype(object))
        try:
            columns = ", ".join(f"cast({c} as varchar) as {c}" for c in frame.columns)
            self.con.execute(f"create or replace temp table {name} as select {columns} from _incoming_keys")
        finally:
            self.con.unregister("_incoming_keys")

    def close(self) -> None:
        self.con.close()


class PostgresWarehouse(_Base):
    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        import psycopg2

        self.con = psycopg2.connect(dsn)
        self.con.autocommit = True

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.con.cursor() as cursor:
            cursor.execute(self._sql(sql), tuple(params))
            names = [d[0] for d in cursor.description]
            return pd.DataFrame.from_records(cursor.fetchall(), columns=names)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.con.cursor() as cursor:
            cursor.execute(self._sql(sql), tuple(params))

    def insert_frame(self, table: str, frame: pd.DataFrame) -> None:
        from psycopg2.extras import execute_values

        if frame.empty:
            return
        records = [tuple(None if is_missing(v) else v for v in row) for row in frame.itertuples(index=False, name=None)]
        with self.con.cursor() as cursor:
            execute_values(cursor, f"insert into {table} ({', '.join(frame.columns)}) values %s", records, page_size=1000)

    def stage_keys(self, name: str, frame: pd.DataFrame) -> None:
        """A temporary table `name` of text columns holding `frame`."""
        with self.con.cursor() as cursor:
            cursor.execute(f"drop table if exists {name}")
            cursor.execute(f"create temp table {name} ({', '.join(f'{c} varchar' for c in frame.columns)})")
        self.insert_frame(name, frame.astype(object).astype(str))

    def close(self) -> None:
        self.con.close()


@contextmanager
def transaction(warehouse: Any) -> Iterator[None]:
    """One transaction on `warehouse`: committed when the block ends, rolled back when it raises."""
    warehouse.execute("begin transaction")
    try:
        yield
    except BaseException:
        warehouse.execute("rollback")
        raise
    warehouse.execute("commit")


def is_missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA (and never an error for values pandas cannot judge)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def connect(target: str, *, duckdb_path: Path | str | None = None, postgres_dsn: str | None = None,
            read_only: bool = False) -> Any:
    """The warehouse of a target (`duckdb` or `postgres`); `read_only` opens a DuckDB file
    without its writer lock (it fails while another process writes it)."""
    if target == "duckdb":
        if duckdb_path is None:
            raise ValueError("the duckdb target needs the warehouse file's path")
        return DuckDBWarehouse(duckdb_path, read_only=read_only)
    if target == "postgres":
        if not postgres_dsn:
            raise ValueError("the postgres target needs a connection string")
        return PostgresWarehouse(postgres_dsn)
    raise ValueError(f"unknown warehouse target {target!r}: use duckdb or postgres")
