"""Retention of raw data: the retention file (`activations/retention.yml`) and the purge.

    retention:
      events/events: {keep_days: 395}                    # by load time (the default)
      support/tickets: {keep_days: 1095, by: updated_at}  # by a timestamp column of the table

A rule names a raw table as `<source>/<table>` (the dlt table `raw_<source>.<table>`) and how
many days its rows are kept. By default a row's age is its load's: rows whose `_dlt_load_id`
belongs to a load dlt recorded (`_dlt_loads.inserted_at`) more than `keep_days` ago expire.
With `by: <column>` a row expires when that timestamp (or date) column is older than the
cutoff; a row whose column is empty falls back to its load time.

The file is checked when it loads, every problem named at once; a `by` column is checked
against the warehouse's catalog when the purge runs, before anything is deleted.

`purge` deletes a table's expired rows together with their rows in dlt's nested tables
(`<table>__<child>`, linked to their parent row by `_dlt_parent_id`, at any depth) and their
entries in the quarantine (which can hold an offending value), in one transaction per table,
and appends one `retention.purge` event per table touched to the audit log (table names,
counts and the cutoff; never row values). A configured table that is not loaded yet is
skipped and reported. `dry_run` counts the same rows and changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from activations.config import ActivationConfigError, read_config_file
from activations.governance import audit
from expectations.quarantine import QUARANTINE, SCHEMA as QUARANTINE_SCHEMA
from expectations.warehouse import transaction

RETENTION_FILE = Path(__file__).resolve().parent.parent / "retention.yml"
ACTION = "retention.purge"
LOADS_TABLE = "_dlt_loads"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SETTINGS = ("keep_days", "by")


class RetentionConfigError(ActivationConfigError):
    """The retention file, or a rule checked against the warehouse, is wrong; every problem is named."""


@dataclass(frozen=True)
class RetentionRule:
    source: str
    table: str
    keep_days: int
    by: str | None = None  # None: the load time

    @property
    def name(self) -> str:
        return f"{self.source}/{self.table}"

    @property
    def schema(self) -> str:
        return f"raw_{self.source}"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"

    def cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.keep_days)


@dataclass(frozen=True)
class RetentionConfig:
    rules: tuple[RetentionRule, ...] = ()


def load_retention_config(path: Path | None = None, *, sources: Iterable[str] | None = None) -> RetentionConfig:
    """Reads and checks the retention file; `sources`, when given, are the source names a rule may use."""
    path = Path(path or RETENTION_FILE)
    where = f"retention file {path}"
    return parse_retention_config(read_config_file(path, where, RetentionConfigError), where, sources=sources)


def parse_retention_config(document: Any, where: str = "retention settings", *,
                           sources: Iterable[str] | None = None) -> RetentionConfig:
    if not isinstance(document, Mapping) or "retention" not in document:
        raise RetentionConfigError(where, ["expected a top-level `retention:` mapping of <source>/<table> to"
                                           " {keep_days: N, by: <column>}"])
    problems = [f"unknown top-level setting {key!r} (only `retention`)" for key in document if key != "retention"]
    section = document["retention"] or {}
    if not isinstance(section, Mapping):
        raise RetentionConfigError(where, [*problems, f"`retention:` must be a mapping, got {section!r}"])
    known = sorted(sources) if sources is not None else None
    rules: list[RetentionRule] = []
    for key, spec in section.items():
        rule = _rule(key, spec, known, problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise RetentionConfigError(where, problems)
    return RetentionConfig(rules=tuple(rules))


def _rule(key: Any, spec: Any, sources: list[str] | None, problems: list[str]) -> RetentionRule | None:
    where = f"table {key!r}"
    start = len(problems)
    parts = key.split("/") if isinstance(key, str) else []
    if len(parts) != 2 or not all(_NAME.match(part) for part in parts):
        problems.append(f"{where}: a table is named <source>/<table> in lower case, e.g. events/events")
        parts = []
    else:
        source, table = parts
        if sources is not None and source not in sources:
            problems.append(f"{where}: unknown source {source!r} (sources: {', '.join(sources)})")
        if "__" in table:
            problems.append(f"{where}: {table} is a nested table; its rows go with their parent's, name the parent")
    if not isinstance(spec, Mapping):
        problems.append(f"{where}: expected {{keep_days: N}} or {{keep_days: N, by: <column>}}, got {spec!r}")
        return None
    unknown = [name for name in spec if name not in _SETTINGS]
    if unknown:
        problems.append(f"{where}: unknown setting(s) {', '.join(map(str, unknown))} (known: {', '.join(_SETTINGS)})")
    keep_days = spec.get("keep_days")
    if not isinstance(keep_days, int) or isinstance(keep_days, bool) or keep_days <= 0:
        problems.append(f"{where}: keep_days must be a positive whole number of days, got {keep_days!r}")
    by = spec.get("by")
    if by is not None and (not isinstance(by, str) or not _COLUMN.match(by) or by.startswith("_dlt")):
        problems.append(f"{where}: by must name a timestamp column of the table (or be left out for the load"
                        f" time), got {by!r}")
    if len(problems) > start or not parts:
        return None
    return RetentionRule(source=parts[0], table=parts[1], keep_days=keep_days, by=by)


# -- the purge -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TablePurge:
    """One configured table's expired rows (deleted, or counted in a dry run)."""

    rule: str  # events/events
    table: str  # raw_events.events
    cutoff: datetime
    by: str | None
    rows: int
    nested: dict[str, int] = field(default_factory=dict)  # raw_events.events__properties__products -> rows
    quarantine_rows: int = 0

    @property
    def total_rows(self) -> int:
        return self.rows + sum(self.nested.values())


@dataclass
class RetentionReport:
    now: datetime
    dry_run: bool
    tables: list[TablePurge] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # configured tables not loaded yet (<source>/<table>)

    def rows(self) -> dict[str, int]:
        """Qualified table -> rows purged, nested tables included."""
        counts: dict[str, int] = {}
        for purge in self.tables:
            counts[purge.table] = purge.rows
            counts.update(purge.nested)
        return counts

    @property
    def total_rows(self) -> int:
        return sum(purge.total_rows for purge in self.tables)

    @property
    def quarantine_rows(self) -> int:
        return sum(purge.quarantine_rows for purge in self.tables)


@dataclass(frozen=True)
class _Plan:
    rule: RetentionRule
    expired: str  # a condition on the table's own columns
    params: tuple[Any, ...]
    nested: tuple[tuple[str, str], ...]  # (nested table, its parent table), parents before children


def purge(warehouse: Any, config: RetentionConfig, *, now: datetime, dry_run: bool = False,
          actor: str = audit.SYSTEM, run_id: str | None = None) -> RetentionReport:
    """Deletes every configured table's expired rows (see the module's docstring)."""
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")
    now = now.astimezone(timezone.utc)
    report = RetentionReport(now=now, dry_run=dry_run)
    plans = _plans(warehouse, config, now, report)
    has_quarantine = warehouse.table_exists(QUARANTINE_SCHEMA, QUARANTINE.split(".")[1])
    if plans and not dry_run:
        audit.ensure_tables(warehouse)
    for plan in plans:
        if dry_run:
            report.tables.append(_measure(warehouse, plan, now, has_quarantine))
            continue
        with transaction(warehouse):
            result = _measure(warehouse, plan, now, has_quarantine)
            _delete(warehouse, plan, has_quarantine)
            _audit(warehouse, result, now=now, actor=actor, run_id=run_id)
        report.tables.append(result)
    return report


def _plans(warehouse: Any, config: RetentionConfig, now: datetime, report: RetentionReport) -> list[_Plan]:
    """Each loaded table's plan, after checking every rule against the catalog (one error for all)."""
    plans, problems = [], []
    for rule in config.rules:
        catalog = {name.lower(): kind for name, kind in warehouse.columns(rule.schema, rule.table).items()}
        if not catalog:
            report.skipped.append(rule.name)
            continue
        where = f"retention of {rule.name} (table {rule.qualified})"
        missing = [column for column in ("_dlt_id", "_dlt_load_id") if column not in catalog]
        if missing:
            problems.append(f"{where}: not a dlt table, no {' or '.join(missing)} column")
            continue
        if not warehouse.table_exists(rule.schema, LOADS_TABLE):
            problems.append(f"{where}: dlt's load table {rule.schema}.{LOADS_TABLE} is missing")
            continue
        cutoff = rule.cutoff(now)
        by_load = (f"_dlt_load_id in (select load_id from {_quote(rule.schema, LOADS_TABLE)}"
                   f" where inserted_at < ?)")
        if rule.by is None:
            expired, params = by_load, (cutoff,)
        else:
            kind = catalog.get(rule.by.lower())
            if kind is None:
                problems.append(f"{where}: `by` column {rule.by!r} does not exist in {rule.qualified}"
                                f" (columns: {', '.join(c for c in catalog if not c.startswith('_dlt'))})")
                continue
            value = _column_cutoff(kind, cutoff)
            if value is None:
                problems.append(f"{where}: `by` column {rule.by!r} of {rule.qualified} is {kind}, not a timestamp"
                                f" or date")
                continue
            column = _quote(rule.by.lower())
            expired = f"({column} < ? or ({column} is null and {by_load}))"
            params = (value, cutoff)
        plans.append(_Plan(rule, expired, params, _nested_tables(warehouse, rule.schema, rule.table)))
    if problems:
        raise RetentionConfigError("retention rules checked against the warehouse", problems)
    return plans


def _column_cutoff(kind: str, cutoff: datetime) -> Any:
    lowered = kind.lower()
    if lowered.startswith("timestamp"):
        with_zone = "with time zone" in lowered or lowered in ("timestamptz", "timestamp_tz")
        return cutoff if with_zone else cutoff.replace(tzinfo=None)
    if lowered == "date":
        return cutoff.date()
    return None


def _nested_tables(warehouse: Any, schema: str, table: str) -> tuple[tuple[str, str], ...]:
    """dlt's nested tables of `table` with each one's parent: `<table>__...` tables carrying
    `_dlt_parent_id`; a nested table's parent is the longest of its name's prefixes that is a
    table of the family (`events__properties__products` -> `events`, a flattened `properties`)."""
    frame = warehouse.query(
        "select distinct table_name from information_schema.columns where table_schema = ? and column_name = ?",
        (schema, "_dlt_parent_id"),
    )
    family = sorted(name for name in frame["table_name"] if str(name).startswith(f"{table}__"))
    members = {table, *family}
    parents = {}
    for name in family:
        parts = name.split("__")
        parents[name] = next("__".join(parts[:cut]) for cut in range(len(parts) - 1, 0, -1)
                             if "__".join(parts[:cut]) in members)

    def depth(name: str) -> int:
        return 0 if name == table else 1 + depth(parents[name])

    return tuple((name, parents[name]) for name in sorted(family, key=lambda n: (depth(n), n)))


def _membership(plan: _Plan) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """Table -> (condition selecting its expired rows, parameters), for the table and each nested one."""
    conditions = {plan.rule.table: (plan.expired, plan.params)}
    for name, parent in plan.nested:
        condition, params = conditions[parent]
        conditions[name] = (f"_dlt_parent_id in (select _dlt_id from {_quote(plan.rule.schema, parent)}"
                            f" where {condition})", params)
    return conditions


def _measure(warehouse: Any, plan: _Plan, now: datetime, has_quarantine: bool) -> TablePurge:
    schema = plan.rule.schema
    counts, quarantined = {}, 0
    for name, (condition, params) in _membership(plan).items():
        counts[name] = _count(warehouse, f"select count(*) as n from {_quote(schema, name)} where {condition}", params)
        if has_quarantine:
            sql, qparams = _quarantine_condition(plan, name, condition, params)
            quarantined += _count(warehouse, f"select count(*) as n from {QUARANTINE} where {sql}", qparams)
    return TablePurge(
        rule=plan.rule.name, table=plan.rule.qualified, cutoff=plan.rule.cutoff(now), by=plan.rule.by,
        rows=counts.pop(plan.rule.table), nested={f"{schema}.{name}": rows for name, rows in counts.items()},
        quarantine_rows=quarantined,
    )


def _delete(warehouse: Any, plan: _Plan, has_quarantine: bool) -> None:
    schema = plan.rule.schema
    membership = _membership(plan)
    if has_quarantine:  # while the rows they name still exist
        for name, (condition, params) in membership.items():
            sql, qparams = _quarantine_condition(plan, name, condition, params)
            warehouse.execute(f"delete from {QUARANTINE} where {sql}", qparams)
    for name in reversed(list(membership)):  # the deepest nested tables first, the table last
        condition, params = membership[name]
        warehouse.execute(f"delete from {_quote(schema, name)} where {condition}", params)


def _quarantine_condition(plan: _Plan, name: str, condition: str,
                          params: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    sql = (f"source = ? and table_name = ? and row_id in"
           f" (select cast(_dlt_id as varchar) from {_quote(plan.rule.schema, name)} where {condition})")
    return sql, (plan.rule.source, name, *params)


def _audit(warehouse: Any, result: TablePurge, *, now: datetime, actor: str, run_id: str | None) -> None:
    """One event for the configured table (always: the purge ran), one per nested table and one for the
    quarantine when they lost rows."""
    cutoff = result.cutoff.isoformat()
    events = [(result.table, result.rows, {})]
    events += [(name, rows, {"parent": result.table}) for name, rows in result.nested.items() if rows]
    if result.quarantine_rows:
        events.append((QUARANTINE, result.quarantine_rows, {"for_table": result.table}))
    audit.record_many(warehouse, [audit.Event(ACTION, "table", table, {"table": table, "rows": rows, "cutoff": cutoff,
                                                                      **extra})
                                  for table, rows, extra in events], actor=actor, run_id=run_id, now=now)


def _count(warehouse: Any, sql: str, params: tuple[Any, ...]) -> int:
    return int(warehouse.query(sql, params)["n"].iloc[0])


def _quote(*names: str) -> str:
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)
