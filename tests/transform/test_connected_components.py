"""The identity graph's connected-components engine (transform/macros/identity/connected_components.sql).

The real macros run through `dbt run-operation run_connected_components` (and, for the
materialization, `dbt build` on a throw-away project that reads the real macro folder), on
DuckDB always and on a PostgreSQL server started by the tests when its binaries are installed.
Results are compared with a Python union-find.

dbt runs in-process (dbtRunner, as dbt's own functional tests do): a subprocess pays ~4 s of
imports per call, which would dominate these small graphs.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestration.settings import DBT_PROJECT_DIR
from tests.postgres_server import postgres_bin_dir, running_postgres

Edge = tuple[int | None, int | None]
SCHEMA = "graphs"
BIG = 5_000_000_000  # ids beyond 32 bits: integers must stay bigint end to end


# --- graphs ------------------------------------------------------------------------------


def shuffled_ids(count: int, seed: int, base: int = 0) -> list[int]:
    ids = [base + i for i in range(count)]
    random.Random(seed).shuffle(ids)
    return ids


def path(ids: list[int]) -> list[Edge]:
    return [(ids[i], ids[i + 1]) for i in range(len(ids) - 1)]


def sorted_chain() -> list[Edge]:
    return path(list(range(1001)))  # 1,000 links


def shuffled_chain() -> list[Edge]:
    return path(shuffled_ids(1001, seed=7, base=BIG))


def star_centre_smallest() -> list[Edge]:
    return [(0, leaf) for leaf in range(1, 1001)]


def star_centre_largest() -> list[Edge]:
    return [(leaf, 10_000) for leaf in range(1, 1001)]


def cycles() -> list[Edge]:
    ids, edges, start = shuffled_ids(3 + 4 + 17 + 256 + 1000, seed=3), [], 0
    for length in (3, 4, 17, 256, 1000):
        ring = ids[start : start + length]
        edges += [(ring[i], ring[(i + 1) % length]) for i in range(length)]
        start += length
    return edges


def small_components(count: int = 10_000, seed: int = 5) -> list[Edge]:
    """`count` components of 1 to 4 nodes (paths, a self-loop for singletons), ids interleaved."""
    sizes = [1 + k % 4 for k in range(count)]
    ids, edges, start = shuffled_ids(sum(sizes), seed=seed, base=BIG), [], 0
    for size in sizes:
        members = ids[start : start + size]
        edges += [(members[0], members[0])] if size == 1 else path(members)
        start += size
    return edges


def isolated_nodes() -> list[Edge]:
    """Self-loops declare nodes without links; a row with one null end declares the other end."""
    return [(n, n) for n in range(100, 200)] + [(1, 2), (2, 2), (3, None), (None, 4), (None, None), (150, 151)]


def duplicate_and_reversed_edges() -> list[Edge]:
    ids = shuffled_ids(60, seed=11)
    edges: list[Edge] = []
    for a, b in path(ids[:40]) + path(ids[40:]):
        edges += [(a, b), (b, a), (a, b), (a, a)]
    return edges


def large_graph() -> list[Edge]:
    """250,000 nodes in 100,000 small components plus a 5,000-node chain: the first pass hooks
    more labels than a DuckDB row group holds (122,880), and later passes still have work."""
    return small_components(100_000, seed=13) + path(shuffled_ids(5000, seed=17, base=2 * BIG))


def random_graph() -> list[Edge]:
    """4,000 nodes, 3,600 random links: a giant component (~2,900 nodes) and ~800 small ones."""
    rng = random.Random(2024)
    nodes = [BIG + rng.randrange(10**9) for _ in range(4000)]
    return [(n, n) for n in nodes] + [(rng.choice(nodes), rng.choice(nodes)) for _ in range(3600)]


def union_find(edges: list[Edge]) -> dict[int, int]:
    """The reference: node -> smallest node of its component."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        for node in (a, b):
            if node is not None:
                parent.setdefault(node, node)
        if a is not None and b is not None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {node: find(node) for node in parent}


@dataclass(frozen=True)
class Case:
    edges: Callable[[], list[Edge]]
    check: Callable[[dict[str, int]], bool] = lambda stats: True
    bound: str = ""


# Measured (both warehouses run the same SQL, so they take the same passes): sorted chain 1 pass
# and 9 jumps, shuffled chain 6 passes, stars 1 and 2, cycles 6, small components 2, isolated
# nodes 1, duplicates 4, large graph 8, random graph 4. A path of n nodes provably needs at most
# ceil(log2 n) passes (the surviving labels are local minima, never adjacent): 10 for the
# 1,001-node chains, 2 for the 4-node components, 6 for the 40-node path with duplicates, 13 for
# the 5,000-node chain. The bounds below are the measured figures with a pass of margin.
CASES = {
    "sorted_chain": Case(sorted_chain, lambda s: s["passes"] == 1 and s["pointer_jumps"] <= 10, "1 pass, <= 10 jumps"),
    "shuffled_chain": Case(shuffled_chain, lambda s: s["passes"] <= 7, "<= 7 passes"),
    "star_centre_smallest": Case(star_centre_smallest, lambda s: s["passes"] == 1, "1 pass"),
    "star_centre_largest": Case(star_centre_largest, lambda s: s["passes"] == 2, "2 passes"),
    "cycles": Case(cycles, lambda s: s["passes"] <= 7, "<= 7 passes"),
    "small_components": Case(small_components, lambda s: s["passes"] <= 2, "<= 2 passes"),
    "isolated_nodes": Case(isolated_nodes, lambda s: s["passes"] == 1, "1 pass"),
    "duplicate_and_reversed_edges": Case(duplicate_and_reversed_edges, lambda s: s["passes"] <= 5, "<= 5 passes"),
    "large_graph": Case(large_graph, lambda s: s["passes"] <= 9, "<= 9 passes"),
    "random_graph": Case(random_graph, lambda s: s["passes"] <= 5, "<= 5 passes"),
}


# --- warehouses and dbt ------------------------------------------------------------------


@dataclass
class DbtResult:
    success: bool
    logs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, int]:
        found = [line.split(" ", 1)[1] for line in self.logs if line.startswith("connected_components {")]
        assert len(found) == 1, self.logs
        return json.loads(found[0])


@dataclass
class Warehouse:
    name: str
    env: dict[str, str]
    work: Path

    def dbt(self, *args: str, project_dir: Path = DBT_PROJECT_DIR) -> DbtResult:
        from dbt.cli.main import dbtRunner

        result = DbtResult(success=False)

        def collect(event: Any) -> None:
            if event.info.name == "JinjaLogInfo":
                result.logs.append(event.info.msg)
            elif event.info.level == "error":
                result.errors.append(event.info.msg)

        target = self.work / f"target_{project_dir.name}"
        with pytest.MonkeyPatch.context() as patch:
            for key, value in self.env.items():
                patch.setenv(key, value)
            outcome = dbtRunner(callbacks=[collect]).invoke([
                "--quiet", *args, "--project-dir", str(project_dir), "--profiles-dir", str(DBT_PROJECT_DIR),
                "--target-path", str(target), "--log-path", str(target / "logs"),
            ])
        result.success = outcome.success
        return result

    def run_engine(self, edges_table: str, output_table: str, **extra: Any) -> DbtResult:
        args = {"edges_table": edges_table, "output_table": output_table, "schema": SCHEMA, **extra}
        return self.dbt("run-operation", "run_connected_components", "--args", json.dumps(args))

    # Implemented per warehouse.
    def load(self, table: str, edges: list[Edge]) -> None: ...
    def query(self, sql: str) -> list[tuple[Any, ...]]: ...
    def execute(self, sql: str) -> None: ...

    def tables(self, schema: str) -> set[str]:
        return {row[0] for row in self.query(
            f"select table_name from information_schema.tables where table_schema = '{schema}'")}


class DuckDBWarehouse(Warehouse):
    def __init__(self, work: Path) -> None:
        self.path = work / "warehouse.duckdb"
        super().__init__("duckdb", {"CDP_TARGET": "duckdb", "CDP_WAREHOUSE_PATH": str(self.path)}, work)
        self.execute(f"create schema if not exists {SCHEMA}")

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        import duckdb

        con = duckdb.connect(str(self.path))
        try:
            yield con
        finally:
            con.close()

    def load(self, table: str, edges: list[Edge]) -> None:
        import pyarrow as pa

        frame = pa.table({
            "node_a": pa.array([a for a, _ in edges], pa.int64()),
            "node_b": pa.array([b for _, b in edges], pa.int64()),
        })
        with self._connect() as con:
            con.register("frame", frame)
            con.execute(f"create or replace table {SCHEMA}.{table} as select node_a, node_b from frame")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._connect() as con:
            return con.execute(sql).fetchall()

    def execute(self, sql: str) -> None:
        with self._connect() as con:
            con.execute(sql)


class PostgresWarehouse(Warehouse):
    def __init__(self, work: Path, server: Any) -> None:
        self.url = server.url
        super().__init__("postgres", {
            "CDP_TARGET": "postgres", "CDP_PG_HOST": server.host, "CDP_PG_PORT": str(server.port),
            "CDP_PG_USER": server.user, "CDP_PG_PASSWORD": server.password, "CDP_PG_DBNAME": server.dbname,
        }, work)
        self.execute(f"create schema if not exists {SCHEMA}")

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        import psycopg2

        con = psycopg2.connect(self.url)
        try:
            with con, con.cursor() as cur:
                yield cur
        finally:
            con.close()

    def load(self, table: str, edges: list[Edge]) -> None:
        cell = lambda value: "\\N" if value is None else str(value)  # noqa: E731 - COPY's null
        text = "".join(f"{cell(a)}\t{cell(b)}\n" for a, b in edges)
        with self._cursor() as cur:
            cur.execute(f"drop table if exists {SCHEMA}.{table}; create table {SCHEMA}.{table} (node_a bigint, node_b bigint)")
            cur.copy_expert(f"copy {SCHEMA}.{table} (node_a, node_b) from stdin", io.StringIO(text))

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()

    def execute(self, sql: str) -> None:
        with self._cursor() as cur:
            cur.execute(sql)


@pytest.fixture(scope="module", params=[
    "duckdb",
    pytest.param("postgres", marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL server binaries are not installed"),
    ]),
])
def warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    work = tmp_path_factory.mktemp(f"cc_{request.param}")
    if request.param == "duckdb":
        yield DuckDBWarehouse(work)
    else:
        with running_postgres() as server:
            yield PostgresWarehouse(work, server)


# --- the engine --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_engine_matches_union_find(warehouse: Warehouse, name: str) -> None:
    case = CASES[name]
    edges = case.edges()
    warehouse.load(name, edges)

    result = warehouse.run_engine(name, f"{name}_components")

    assert result.success, result.errors
    stats = result.stats()
    expected = union_find(edges)
    rows = warehouse.query(f"select node_id, component_id from {SCHEMA}.{name}_components")
    assert len(rows) == len(expected)  # one row per node
    assert dict(rows) == expected
    assert all(isinstance(value, int) for row in rows[:10] for value in row)
    sizes = Counter(expected.values())
    assert stats["nodes"] == len(expected)
    assert stats["edges"] == len(edges)
    assert stats["components"] == len(sizes)
    assert stats["largest_component"] == max(sizes.values())
    assert case.check(stats), f"{name}: expected {case.bound}, got {stats}"
    assert not {t for t in warehouse.tables(SCHEMA) if t.startswith("cc_")}, "work tables left behind"


def test_rerun_replaces_the_output_and_empty_input_gives_empty_output(warehouse: Warehouse) -> None:
    warehouse.load("rerun", [(1, 2), (3, 4)])
    assert warehouse.run_engine("rerun", "rerun_components").success
    warehouse.load("rerun", [])

    result = warehouse.run_engine("rerun", "rerun_components")

    assert result.success, result.errors
    assert result.stats() == {"passes": 0, "pointer_jumps": 0, "nodes": 0, "edges": 0, "components": 0, "largest_component": 0}
    assert warehouse.query(f"select count(*) from {SCHEMA}.rerun_components") == [(0,)]


def test_max_passes_stops_with_a_clear_error_and_drops_work_tables(warehouse: Warehouse) -> None:
    warehouse.load("too_long", shuffled_chain())

    result = warehouse.run_engine("too_long", "too_long_components", max_passes=2)

    assert not result.success
    assert any("no convergence after max_passes=2" in error for error in result.errors), result.errors
    tables = warehouse.tables(SCHEMA)
    assert "too_long_components" not in tables
    assert not {t for t in tables if t.startswith("cc_")}


def test_ids_that_are_not_integers_fail_and_leave_nothing_behind(warehouse: Warehouse) -> None:
    warehouse.execute(f"drop table if exists {SCHEMA}.not_numbers")
    warehouse.execute(f"create table {SCHEMA}.not_numbers as select '1' as node_a, 'x' as node_b")

    result = warehouse.run_engine("not_numbers", "not_numbers_components")

    assert not result.success
    assert any("'x'" in error or '"x"' in error for error in result.errors), result.errors
    tables = warehouse.tables(SCHEMA)
    assert "not_numbers_components" not in tables
    assert not {t for t in tables if t.startswith("cc_")}


def test_missing_edges_table_is_a_clear_error(warehouse: Warehouse) -> None:
    result = warehouse.run_engine("no_such_table", "whatever")

    assert not result.success
    assert any(f"edges table {SCHEMA}.no_such_table not found" in error for error in result.errors), result.errors


# --- the materialization -----------------------------------------------------------------

PROJECT = """\
name: opencdp
version: "0.1.0"
config-version: 2
profile: opencdp
model-paths: ["models"]
macro-paths: ["{macros}"]
models:
  opencdp:
    +schema: identity
"""

LINKS = """\
{{ config(materialized='table') }}
select cast(node_a as {{ dbt.type_bigint() }}) as node_a, cast(node_b as {{ dbt.type_bigint() }}) as node_b
from (values (1, 2), (2, 3), (10, 11), (20, 20){% if var('merge', false) %}, (3, 10){% endif %}) as links (node_a, node_b)
"""

COMPONENTS = """\
{{ config(
    materialized='connected_components',
    persist_docs={'relation': true, 'columns': true},
    grants=({'select': ['cc_reader']} if target.type == 'postgres' else {}),
) }}
select node_a, node_b from {{ ref('links') }}
"""

SIZES = """\
select component_id, count(*) as nodes from {{ ref('components') }} group by component_id
"""

SCHEMA_YML = """\
version: 2
models:
  - name: components
    description: One row per identifier node and its component.
    columns:
      - name: node_id
        description: The node.
        data_tests: [unique, not_null]
      - name: component_id
        description: Smallest node of the component.
        data_tests:
          - not_null
          - relationships:
              arguments: {to: ref('components'), field: node_id}
  - name: sizes
    columns:
      - name: component_id
        data_tests: [unique]
"""


def test_materialization_builds_logs_and_replaces(warehouse: Warehouse, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT.format(macros=(DBT_PROJECT_DIR / "macros").resolve()))
    for name, text in {"links.sql": LINKS, "components.sql": COMPONENTS, "sizes.sql": SIZES, "schema.yml": SCHEMA_YML}.items():
        (project / "models" / name).write_text(text)
    if warehouse.name == "postgres":
        warehouse.execute("do $$ begin create role cc_reader; exception when duplicate_object then null; end $$")

    first = warehouse.dbt("build", project_dir=project)

    assert first.success, first.errors
    assert dict(warehouse.query("select node_id, component_id from identity.components")) == {
        1: 1, 2: 1, 3: 1, 10: 10, 11: 10, 20: 20}
    assert sorted(warehouse.query("select component_id, nodes from identity.sizes")) == [(1, 3), (10, 2), (20, 1)]
    log_sql = """select model_name, invocation_id, passes, pointer_jumps, nodes, edges, components,
                        largest_component, started_at <= finished_at
                 from identity.connected_components_runs order by finished_at"""
    [run] = warehouse.query(log_sql)
    assert run[0] == "components" and run[1]
    assert run[2:] == (1, 1, 6, 4, 3, 3, True)  # 3 hooks on 2 hooks on 1: one jump

    second = warehouse.dbt("build", "--vars", "{merge: true}", project_dir=project)

    assert second.success, second.errors
    assert dict(warehouse.query("select node_id, component_id from identity.components")) == {
        1: 1, 2: 1, 3: 1, 10: 1, 11: 1, 20: 20}
    runs = warehouse.query(log_sql)
    assert len(runs) == 2 and runs[0][1] != runs[1][1]
    assert runs[1][4:8] == (6, 5, 2, 5)
    assert warehouse.tables("identity") == {"links", "components", "sizes", "connected_components_runs"}
    if warehouse.name == "postgres":
        assert warehouse.query("select has_table_privilege('cc_reader', 'identity.components', 'select'), "
                               "obj_description('identity.components'::regclass)") == [
            (True, "One row per identifier node and its component.")]
    else:
        assert warehouse.query("select comment from duckdb_tables() where schema_name = 'identity' "
                               "and table_name = 'components'") == [("One row per identifier node and its component.",)]
