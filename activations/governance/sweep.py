"""Finding and deleting one person's rows in every table of the warehouse.

A person leaves rows in three kinds of places, and the sweep reaches each without a list of
tables to keep up to date (a new model or source table is swept the day it appears):

- rows keyed by a customer id: every column whose name ends in `customer_id` (profiles,
  traits, audiences, snapshots, activation state, merge history, the CRM sync's tables);
- rows holding one of their identifiers or record references as a value: every text column
  is compared with the person's identifier keys (`email:ana@example.com`), values, record refs
  (`crm/contacts/1001`) and customer ids, trimmed and lower-cased, so the raw zone's
  `Ana@Example.com ` is found as well as the identity graph's nodes; raw phone numbers as
  written (`(415) 555-0134`) are read back to E.164 to be compared; JSON held as text (a
  ledger payload, a quarantined row) is searched for the value as a JSON string (`"..."`);
- the raw zone's rows by their record keys: each dlt table's primary key (from the schema dlt
  stored with the data) against the person's record keys of that source and table, rows that
  refer to a deleted row (`order_lines.order_id`), and every nested dlt table's rows whose
  parent row is gone, at any depth. Bare numbers (a CRM contact id `1001`) are only ever
  compared with key columns (a raw table's primary key; the contact id columns of the CRM's
  raw tables and of the CRM sync's state), never with every text column, where they would hit
  amounts.

Views are not swept (they show what their tables hold). The schemas in `exclude` are skipped:
the governance schema holds only hashes, and the activation schema is purged by the deletion
after every destination has confirmed the removal it needs that schema's rows for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from activations.governance.people import IdentifierError, Person, normalize
from expectations import quarantine

SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")
TEXT_TYPES = ("character varying", "varchar", "text", "json", "jsonb", "character")
# Rows that refer to a keyed raw row of another table, by source and table.
REFERENCES: dict[tuple[str, str], tuple[str, tuple[str, str]]] = {
    ("commerce", "order_lines"): ("order_id", ("commerce", "orders")),
}
QUARANTINE = tuple(quarantine.QUARANTINE.split("."))
# The CRM's contact ids are bare numbers: compared only with these columns of the CRM's tables.
CRM_SYNC = "crm_sync"
CRM_CONTACT_COLUMNS = frozenset({"contact_id", "hs_object_id", "crm_contact_id", "associated_contact_id"})
_BARE_NUMBER = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Needles:
    """What marks a person's rows."""

    customer_ids: frozenset[str]
    values: frozenset[str]  # lower-cased: identifier values and keys, record refs, customer ids
    records: frozenset[tuple[str, str, str]]  # (source, table, record_key)
    phones: frozenset[str] = field(default=frozenset())  # E.164
    crm_contacts: frozenset[str] = field(default=frozenset())  # CRM contact ids (bare numbers)

    @classmethod
    def of(cls, person: Person, *, crm_contacts: Iterable[str] = ()) -> Needles:
        values = {c.lower() for c in person.customer_ids}
        for identifier in person.identifiers:
            values.add(identifier.key.lower())
            if not _BARE_NUMBER.match(identifier.value):
                values.add(identifier.value.lower())
        for source, table, key in person.records:
            values.add(f"{source}/{table}/{key}".lower())
            if not _BARE_NUMBER.match(key):
                values.add(key.lower())
        return cls(
            customer_ids=frozenset(person.customer_ids),
            values=frozenset(values),
            records=frozenset(person.records),
            phones=frozenset(person.identifier_values("phone")),
            crm_contacts=frozenset({*person.identifier_values("crm_contact_id"), *crm_contacts}),
        )

    def keys_of(self, source: str, table: str) -> list[str]:
        return sorted(key for s, t, key in self.records if (s, t) == (source, table))


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: dict[str, str]  # name -> catalog type

    @property
    def qualified(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    def text_columns(self) -> list[str]:
        return [c for c, kind in self.columns.items() if kind.lower() in TEXT_TYPES]


@dataclass
class SweepReport:
    rows: dict[str, int] = field(default_factory=dict)  # schema.table -> rows

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def tables(warehouse: Any, *, exclude: Iterable[str] = ()) -> list[Table]:
    """Every base table outside the system schemas and `exclude`, with its columns."""
    skipped = set(SYSTEM_SCHEMAS) | set(exclude)
    frame = warehouse.query(
        "select c.table_schema, c.table_name, c.column_name, c.data_type"
        " from information_schema.columns c join information_schema.tables t"
        " on t.table_schema = c.table_schema and t.table_name = c.table_name"
        " where t.table_type = 'BASE TABLE' order by c.table_schema, c.table_name, c.ordinal_position"
    )
    found: dict[tuple[str, str], dict[str, str]] = {}
    for schema, name, column, kind in frame.itertuples(index=False):
        if schema in skipped or schema.startswith("pg_"):
            continue
        found.setdefault((str(schema), str(name)), {})[str(column)] = str(kind)
    return [Table(schema, name, columns) for (schema, name), columns in found.items()]


def purge(warehouse: Any, needles: Needles, *, exclude: Iterable[str] = (), dry_run: bool = False,
          default_region: str = "US") -> SweepReport:
    """Deletes (or with `dry_run` counts) the person's rows in every table. The caller holds the
    transaction: nothing is deleted when one statement fails."""
    report = SweepReport()
    catalog = tables(warehouse, exclude=exclude)
    primary_keys = _raw_primary_keys(warehouse, catalog)
    for table in catalog:
        condition, params = _condition(warehouse, table, needles, primary_keys, default_region)
        if condition:
            _apply(warehouse, table, condition, params, dry_run, report)
    # nested dlt rows whose parent is gone; a dry run cannot see them before the parents go,
    # so it counts the children of the rows it would delete instead
    for table in sorted((t for t in catalog if "_dlt_parent_id" in t.columns), key=lambda t: t.name.count("__")):
        parent = _parent(table, catalog)
        if parent is None:
            continue
        if dry_run:
            parent_condition, params = _condition(warehouse, parent, needles, primary_keys, default_region)
            if not parent_condition:
                continue
            condition = f"_dlt_parent_id in (select _dlt_id from {parent.qualified} where {parent_condition})"
        else:
            condition, params = f"_dlt_parent_id not in (select _dlt_id from {parent.qualified})", []
        _apply(warehouse, table, condition, params, dry_run, report)
    return report


def find_traces(warehouse: Any, needles: Iterable[str], *, exclude: Iterable[str] = ()) -> dict[str, int]:
    """`schema.table.column` -> rows whose text contains any of `needles` (case-insensitive),
    over every base table: the proof that a deletion left nothing. Substring search, so choose
    needles that are not parts of other people's values."""
    wanted = sorted({n.lower() for n in needles if n})
    found: dict[str, int] = {}
    if not wanted:
        return found
    patterns = [f"%{n}%" for n in wanted]
    for table in tables(warehouse, exclude=exclude):
        columns = list(table.columns)
        counts = ", ".join(
            f"sum(case when {_contains_any(column, len(wanted))} then 1 else 0 end) as c{index}"
            for index, column in enumerate(columns))
        row = warehouse.query(f"select {counts} from {table.qualified}", patterns * len(columns)).iloc[0]
        for index, column in enumerate(columns):
            count = row[f"c{index}"]
            if count is not None and count == count and int(count):
                found[f"{table.schema}.{table.name}.{column}"] = int(count)
    return found


def _contains_any(column: str, count: int) -> str:
    text = f'lower(cast("{column}" as varchar))'
    return "(" + " or ".join(f"{text} like ?" for _ in range(count)) + ")"


def _apply(warehouse: Any, table: Table, condition: str, params: Sequence[Any], dry_run: bool,
           report: SweepReport) -> None:
    count = int(warehouse.query(f"select count(*) as n from {table.qualified} where {condition}", params).iloc[0, 0])
    if not count:
        return
    if not dry_run:
        warehouse.execute(f"delete from {table.qualified} where {condition}", params)
    name = f"{table.schema}.{table.name}"
    report.rows[name] = report.rows.get(name, 0) + count


def _condition(warehouse: Any, table: Table, needles: Needles, primary_keys: dict[tuple[str, str], str],
               default_region: str) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []

    def member(expression: str, values: Iterable[str]) -> None:
        values = sorted(set(values))
        if values:
            clauses.append(f"{expression} in ({', '.join('?' for _ in values)})")
            params.extend(values)

    for column in table.columns:
        if column.endswith("customer_id"):
            member(f'cast("{column}" as varchar)', needles.customer_ids)
    json_columns = _json_columns(warehouse, table)
    for column in table.text_columns():
        text = f'lower(trim(cast("{column}" as varchar)))'
        member(text, needles.values)
        if "phone" in column.lower() and needles.phones:
            member(f'cast("{column}" as varchar)', _raw_phones(warehouse, table, column, needles.phones, default_region))
        if column in json_columns:
            for value in sorted(needles.values):
                clauses.append(f'lower(cast("{column}" as varchar)) like ?')
                params.append(f"%{json.dumps(value)}%")
    source = _raw_source(table)
    if table.schema == CRM_SYNC or source == "crm":
        for column in CRM_CONTACT_COLUMNS & set(table.columns):
            member(f'cast("{column}" as varchar)', needles.crm_contacts)
    if source is not None:
        key = primary_keys.get((table.schema, table.name))
        if key:
            member(f'cast("{key}" as varchar)', needles.keys_of(source, table.name))
        reference = REFERENCES.get((source, table.name))
        if reference and reference[0] in table.columns:
            member(f'cast("{reference[0]}" as varchar)', needles.keys_of(*reference[1]))
    if (table.schema, table.name) == QUARANTINE and {"source", "table_name", "row_key"} <= set(table.columns):
        for source_name, table_name, key in sorted(needles.records):
            clauses.append("(source = ? and table_name = ? and cast(row_key as varchar) = ?)")
            params.extend([source_name, table_name, key])
    return " or ".join(clauses), params


def _raw_source(table: Table) -> str | None:
    """`raw_crm` and dlt's merge staging dataset `raw_crm_staging` hold the CRM's raw rows."""
    if not table.schema.startswith("raw_"):
        return None
    source = table.schema[len("raw_"):]
    return source[: -len("_staging")] if source.endswith("_staging") else source


def _raw_primary_keys(warehouse: Any, catalog: list[Table]) -> dict[tuple[str, str], str]:
    """(schema, table) -> the primary key column dlt declared, from the newest stored schema."""
    keys: dict[tuple[str, str], str] = {}
    datasets = {t.schema for t in catalog if t.name == "_dlt_version"}
    for schema in datasets:
        frame = warehouse.query(f'select schema from "{schema}"._dlt_version order by inserted_at desc limit 1')
        if frame.empty:
            continue
        stored = json.loads(frame.iloc[0, 0])
        for name, spec in stored.get("tables", {}).items():
            primary = [c for c, column in spec.get("columns", {}).items() if column.get("primary_key")]
            if len(primary) == 1:
                keys[(schema, name)] = primary[0]
                keys[(f"{schema}_staging", name)] = primary[0]
    return keys


def _parent(table: Table, catalog: list[Table]) -> Table | None:
    """A nested dlt table's parent: the longest prefix of its name that is a table of its schema."""
    names = {t.name: t for t in catalog if t.schema == table.schema}
    parts = table.name.split("__")
    for end in range(len(parts) - 1, 0, -1):
        candidate = "__".join(parts[:end])
        if candidate in names and "_dlt_id" in names[candidate].columns:
            return names[candidate]
    return None


def _json_columns(warehouse: Any, table: Table) -> set[str]:
    """Text columns holding JSON: typed so, or whose first non-null value opens an object or array."""
    found = {c for c in table.text_columns() if table.columns[c].lower() in ("json", "jsonb")}
    plain = [c for c in table.text_columns() if c not in found]
    if not plain:
        return found
    firsts = ", ".join(f'min(substr(ltrim(cast("{c}" as varchar)), 1, 1)) as c{i}' for i, c in enumerate(plain))
    row = warehouse.query(f"select {firsts} from {table.qualified}").iloc[0]
    return found | {c for i, c in enumerate(plain) if row[f"c{i}"] in ("{", "[")}


def _raw_phones(warehouse: Any, table: Table, column: str, phones: frozenset[str], region: str) -> list[str]:
    """The column's values, as written, that are one of `phones` once read as E.164."""
    frame = warehouse.query(f'select distinct cast("{column}" as varchar) as v from {table.qualified}'
                            f' where "{column}" is not null')
    found = []
    for value in frame["v"].astype(str):
        try:
            if normalize("phone", value, default_region=region) in phones:
                found.append(value)
        except IdentifierError:
            continue
    return found
