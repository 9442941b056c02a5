"""The gate runner: validates the newest load of each raw table and quarantines failing rows.

For one table it
1. finds the newest completed dlt load of the source's dataset and reads that load's rows
   (only the columns the suite needs, plus the derived columns its rules define),
2. looks for schema drift: expected columns dropped or retyped (critical), columns never seen
   before (warning), values dlt put in a variant column because their type changed (warning,
   and the rows are quarantined),
3. validates the rows with Great Expectations (a pandas batch; COMPLETE results keyed by the
   row key), adding a row-count band from the history of loads,
4. writes every failing row of a row-level rule to `quality.quarantine`, the load to
   `quality.load_validations`, and the (masked) result to Data Docs.

Samples of failing values (in the report and in Data Docs) of a rule marked `pii` are masked
by the gate's `Redactor` unless it allows samples (`CDP_ALLOW_PII_IN_METADATA`); quarantine
keeps the offending value itself, as data in the warehouse.

The table passes when every critical rule holds within its tolerance and no expected column
was dropped or retyped.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from activations.governance.redaction import REDACT, Redactor
from expectations import quarantine
from expectations.docs import DataDocs
from expectations.rules import CRITICAL, WARNING, Context, Rule, TableSuite, no_variant, row_count_between
from expectations.warehouse import is_missing, type_family

UNPARSED_TABLE = "unparsed_lines"  # dlt_sources.files.UNPARSED_TABLE (expectations does not import dlt)
VARIANT = re.compile(r"^(?P<column>.+)__v_(?P<type>[a-z]+)$")
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id", "_dlt_parent_id", "_dlt_root_id", "_dlt_list_idx")
ROW_COUNT_HISTORY = 5  # loads the band is computed from
ROW_COUNT_MIN_HISTORY = 3
SAMPLES = 5


def dataset_of(source: str) -> str:
    return f"raw_{source}"


@dataclass
class RuleResult:
    rule: Rule
    applicable: bool
    success: bool
    element_count: int = 0
    unexpected_count: int = 0
    unexpected_percent: float = 0.0
    observed: str = ""
    samples: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def failed_critical(self) -> bool:
        return self.applicable and not self.success and self.rule.severity == CRITICAL

    @property
    def failed_warning(self) -> bool:
        return self.applicable and not self.success and self.rule.severity == WARNING


@dataclass
class Drift:
    dropped: list[str] = field(default_factory=list)  # expected columns absent or empty in the load
    retyped: list[str] = field(default_factory=list)  # expected columns whose type changed
    new_columns: list[str] = field(default_factory=list)  # columns never seen before this load
    variants: list[str] = field(default_factory=list)  # variant columns (values of another type)

    @property
    def critical(self) -> list[str]:
        return [f"expected column `{c}` is missing from the load" for c in self.dropped] + [
            f"expected column {c}" for c in self.retyped
        ]

    @property
    def warnings(self) -> list[str]:
        variants = [VARIANT.match(v) for v in self.variants]
        return [f"new column `{c}`" for c in self.new_columns] + [
            f"type change: `{m['column']}` received {m['type']} values (kept in `{m.string}`)" for m in variants if m
        ]


@dataclass
class TableReport:
    suite: TableSuite
    load_id: str | None
    row_count: int = 0
    results: list[RuleResult] = field(default_factory=list)
    drift: Drift = field(default_factory=Drift)
    quarantined_rows: int = 0  # raw rows of this load with a failing row-level rule
    new_quarantine_entries: int = 0
    data_docs: str | None = None
    note: str = ""
    unparsed_lines: int = 0  # lines of the load's files that were not JSON (kept in `unparsed_lines`)

    @property
    def _unparsed_share(self) -> float:
        total = self.unparsed_lines + self.row_count
        return self.unparsed_lines / total if total else 0.0

    @property
    def _unparsed_message(self) -> list[str]:
        if not self.unparsed_lines:
            return []
        return [
            f"{self.unparsed_lines:,} lines of the load could not be parsed ({self._unparsed_share:.2%};"
            f" kept in {dataset_of(self.suite.source)}.unparsed_lines)"
        ]

    @property
    def critical_failures(self) -> list[str]:
        unparsed = self._unparsed_message if self._unparsed_share > self.suite.unparsed_tolerate else []
        return self.drift.critical + unparsed + [
            f"{r.rule.name}: {r.unexpected_count:,} rows ({r.unexpected_percent:.2f} %) over the {r.rule.tolerate:.1%} tolerated"
            if r.rule.row_level
            else f"{r.rule.name}: {r.observed}"
            for r in self.results
            if r.failed_critical
        ]

    @property
    def warnings(self) -> list[str]:
        unparsed = self._unparsed_message if 0 < self._unparsed_share <= self.suite.unparsed_tolerate else []
        return self.drift.warnings + unparsed + [
            f"{r.rule.name}: {r.unexpected_count:,} rows ({r.unexpected_percent:.2f} %)" if r.rule.row_level
            else f"{r.rule.name}: {r.observed}"
            for r in self.results
            if r.failed_warning
        ]

    @property
    def passed(self) -> bool:
        return not self.critical_failures


class Gate:
    """Validates newest loads against the suites. `warehouse` is an `expectations.warehouse` connection."""

    def __init__(
        self,
        warehouse: Any,
        *,
        docs: DataDocs | None = None,
        now: datetime | None = None,
        default_phone_region: str = "US",
        redactor: Redactor = REDACT,
    ) -> None:
        self.warehouse = warehouse
        self.docs = docs
        self.redactor = redactor
        self.now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.context = Context(now=self.now, default_phone_region=default_phone_region)
        self.gx = gx.get_context(mode="ephemeral")
        self.gx.variables.progress_bars = ProgressBarsConfig(globally=False)
        quarantine.ensure_tables(warehouse)

    # -- public ------------------------------------------------------------------------------

    def newest_load(self, source: str) -> str | None:
        dataset = dataset_of(source)
        if not self.warehouse.table_exists(dataset, "_dlt_loads"):
            return None
        frame = self.warehouse.query(f"select max(load_id) as load_id from {dataset}._dlt_loads where status = 0")
        value = frame["load_id"].iloc[0] if not frame.empty else None
        return None if value is None or pd.isna(value) else str(value)

    def validate(self, suite: TableSuite, load_id: str | None = None) -> TableReport:
        load_id = load_id or self.newest_load(suite.source)
        dataset = dataset_of(suite.source)
        catalog = self.warehouse.columns(dataset, suite.table)
        report = TableReport(suite=suite, load_id=load_id)
        if load_id is not None and suite.parent is None:
            report.unparsed_lines = self._unparsed_lines(suite.source, load_id)
        if load_id is None or not catalog:
            report.note = "nothing loaded yet"
            return report
        rules = self._rules(suite, catalog)
        frame = self._read(suite, catalog, rules, load_id)
        report.row_count = len(frame)
        report.drift = self._drift(suite, catalog, frame, load_id)
        if frame.empty:
            report.note = "the newest load has no rows for this table"
            self._record(report)
            return report
        band = self._row_count_band(suite)
        if band is not None:
            rules.append(band)
        applicable = [rule for rule in rules if all(c in catalog for c in rule.columns)]
        runs = {rule.name for rule in applicable}
        gx_suite = gx.ExpectationSuite(name=suite.name)
        for rule in applicable:
            gx_suite.add_expectation(rule.expectation(self.context))
        batch = self._batch(suite).get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(
            gx_suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["_row_id"]}
        )
        by_rule = {r.expectation_config.meta["rule"]: r for r in result.results}
        failures = []
        values = frame.set_index("_row_id", drop=False)
        for rule in rules:
            if rule.name not in runs:
                missing = [c for c in rule.columns if c not in catalog]
                report.results.append(RuleResult(rule, applicable=False, success=True, note=f"column {', '.join(missing)} not in the table"))
                continue
            outcome = by_rule[rule.name]
            rr = self._rule_result(rule, outcome, values)
            report.results.append(rr)
            if rule.row_level and rr.unexpected_count:
                row_ids = pd.Series([entry["_row_id"] for entry in outcome.result.get("unexpected_index_list") or []], dtype=object)
                failures.append(self._failures(suite, rule, row_ids.drop_duplicates(), values, load_id))
        if failures:
            failed = pd.concat(failures, ignore_index=True)
            report.quarantined_rows = int(failed["row_id"].nunique())
            report.new_quarantine_entries = quarantine.record_failures(self.warehouse, failed, self.now)
        if self.docs is not None:
            _mask_result(result, {rule.name for rule in applicable if rule.pii}, self.redactor)
            report.data_docs = self.docs.publish(gx_suite, result, load_id=load_id, now=self.now)
        self._record(report)
        return report

    def validate_all(self, suites: tuple[TableSuite, ...]) -> list[TableReport]:
        loads: dict[str, str | None] = {}
        reports = []
        for suite in suites:
            if suite.source not in loads:
                loads[suite.source] = self.newest_load(suite.source)
            reports.append(self.validate(suite, loads[suite.source]))
        return reports

    # -- steps -------------------------------------------------------------------------------

    def _unparsed_lines(self, source: str, load_id: str) -> int:
        dataset = dataset_of(source)
        if not self.warehouse.table_exists(dataset, UNPARSED_TABLE):
            return 0
        frame = self.warehouse.query(f"select count(*) as n from {dataset}.{UNPARSED_TABLE} where _dlt_load_id = ?", (load_id,))
        return int(frame["n"].iloc[0])

    def _rules(self, suite: TableSuite, catalog: dict[str, str]) -> list[Rule]:
        rules = list(suite.rules)
        for column in catalog:
            match = VARIANT.match(column)
            if match and match["column"] in catalog:
                rules.append(no_variant(match["column"], column, tolerate=suite.variant_tolerate))
        return rules

    def _read(self, suite: TableSuite, catalog: dict[str, str], rules: list[Rule], load_id: str) -> pd.DataFrame:
        dataset = dataset_of(suite.source)
        wanted: list[str] = []
        for column in [*suite.columns, *(c for rule in rules for c in rule.columns)]:
            if column in catalog and column not in wanted:
                wanted.append(column)
        derived: dict[str, str] = {}
        for rule in rules:
            if all(c in catalog for c in rule.columns):
                derived.update(rule.derived)
        if suite.parent:
            inner = (
                f"select c.*, p._dlt_load_id as _load_id from {dataset}.{suite.table} as c"
                f" join {dataset}.{suite.parent} as p on p._dlt_id = c._dlt_parent_id where p._dlt_load_id = ?"
            )
        else:
            inner = f"select t.*, t._dlt_load_id as _load_id from {dataset}.{suite.table} as t where t._dlt_load_id = ?"
        select = [
            f"coalesce(cast({suite.key} as varchar), cast(_dlt_id as varchar)) as _row_key",
            "cast(_dlt_id as varchar) as _row_id",
            "_load_id",
        ]
        select += [f'"{column}"' for column in wanted]
        select += [f"{expression} as {name}" for name, expression in derived.items()]
        frame = self.warehouse.query(f"select {', '.join(select)} from ({inner}) as r", (load_id,))
        for column in wanted:
            family = type_family(catalog[column])
            if family == "timestamp":
                frame[column] = pd.to_datetime(frame[column], utc=True)
            elif family in ("decimal", "double", "bigint"):
                frame[column] = pd.to_numeric(frame[column])
        frame["_row_key"] = frame["_row_key"].astype(object)
        frame["_row_id"] = frame["_row_id"].astype(object)
        return frame

    def _drift(self, suite: TableSuite, catalog: dict[str, str], frame: pd.DataFrame, load_id: str) -> Drift:
        drift = Drift()
        for column, expected in suite.columns.items():
            if column not in catalog:
                drift.dropped.append(column)
            elif type_family(catalog[column]) != expected:
                drift.retyped.append(f"`{column}` is {type_family(catalog[column])}, expected {expected}")
            elif not frame.empty and not frame[column].notna().any():
                drift.dropped.append(column)
        known = self.warehouse.query(
            f"select column_name from {quarantine.KNOWN_COLUMNS} where source = ? and table_name = ?",
            (suite.source, suite.table),
        )
        seen = set(known["column_name"])
        fresh = [c for c in catalog if c not in seen]
        if seen:  # the first validation of a table is the baseline: nothing is "new" then
            drift.new_columns = [c for c in fresh if not VARIANT.match(c) and c not in DLT_COLUMNS]
        drift.variants = [c for c in catalog if VARIANT.match(c) and VARIANT.match(c)["column"] in catalog]  # type: ignore[index]
        if fresh:
            self.warehouse.insert_frame(
                quarantine.KNOWN_COLUMNS,
                pd.DataFrame(
                    {
                        "source": suite.source,
                        "table_name": suite.table,
                        "column_name": fresh,
                        "data_type": [type_family(catalog[c]) for c in fresh],
                        "first_seen_load_id": load_id,
                        "first_seen_at": self.now,
                    }
                ),
            )
        return drift

    def _row_count_band(self, suite: TableSuite) -> Rule | None:
        if suite.row_count_band is None:
            return None
        history = self.warehouse.query(
            f"select row_count from {quarantine.VALIDATIONS} where source = ? and table_name = ? and row_count > 0"
            f" order by validated_at desc limit {ROW_COUNT_HISTORY}",
            (suite.source, suite.table),
        )
        if len(history) < ROW_COUNT_MIN_HISTORY:
            return None
        median = statistics.median(int(v) for v in history["row_count"])
        low, high = suite.row_count_band
        return row_count_between(int(median * low), max(int(median * high), 1))

    def _batch(self, suite: TableSuite) -> Any:
        source = self.gx.data_sources.add_or_update_pandas(dataset_of(suite.source))
        try:
            asset = source.get_asset(suite.table)
        except LookupError:
            asset = source.add_dataframe_asset(suite.table)
        try:
            return asset.get_batch_definition("newest_load")
        except KeyError:
            return asset.add_batch_definition_whole_dataframe("newest_load")

    def _rule_result(self, rule: Rule, outcome: Any, values: pd.DataFrame) -> RuleResult:
        result = outcome.result or {}
        if outcome.exception_info and outcome.exception_info.get("raised_exception"):
            message = self.redactor.text(outcome.exception_info.get("exception_message") or "the expectation raised")
            return RuleResult(rule, applicable=True, success=False, observed=f"error: {message}")
        count = int(result.get("unexpected_count") or 0)
        samples: list[str] = []
        if rule.row_level:
            for entry in (result.get("unexpected_index_list") or [])[:SAMPLES]:
                value = _offending(rule, entry["_row_id"], values)
                samples.append(self.redactor.sample(value) if rule.pii else str(value))
        observed = result.get("observed_value")
        return RuleResult(
            rule,
            applicable=True,
            success=bool(outcome.success),
            element_count=int(result.get("element_count") or 0),
            unexpected_count=count,
            unexpected_percent=float(result.get("unexpected_percent") or 0.0),
            observed=str(observed) if observed is not None else f"{count:,} unexpected",
            samples=samples,
        )

    def _failures(self, suite: TableSuite, rule: Rule, row_ids: pd.Series, values: pd.DataFrame, load_id: str) -> pd.DataFrame:
        rows = values.loc[row_ids.to_numpy()]
        column = rule.value_column
        if column and column in values.columns:
            offending = rows[column].map(lambda v: None if is_missing(v) else str(v)).to_numpy()
        else:
            offending = None
        return pd.DataFrame(
            {
                "source": suite.source,
                "table_name": suite.table,
                "row_key": rows["_row_key"].to_numpy(),
                "row_id": row_ids.to_numpy(),
                "load_id": load_id,
                "expectation": rule.name,
                "reason": rule.reason,
                "severity": rule.severity,
                "column_name": column,
                "offending_value": offending,
            }
        )

    def _record(self, report: TableReport) -> None:
        self.warehouse.insert_frame(
            quarantine.VALIDATIONS,
            pd.DataFrame(
                [
                    {
                        "source": report.suite.source,
                        "table_name": report.suite.table,
                        "load_id": report.load_id,
                        "validated_at": self.now,
                        "row_count": report.row_count,
                        "passed": report.passed,
                        "critical_failures": len(report.critical_failures),
                        "warnings": len(report.warnings),
                        "quarantined_rows": report.quarantined_rows,
                        "data_docs": report.data_docs,
                    }
                ]
            ),
        )


def _offending(rule: Rule, key: Any, values: pd.DataFrame) -> Any:
    column = rule.value_column
    if not column or column not in values.columns:
        return ""
    value = values.at[key, column]
    return "" if is_missing(value) else value


def _mask_result(result: Any, pii_rules: set[str], redactor: Redactor) -> None:
    """Masks personal values (unless the redactor allows samples) and trims long lists in a
    validation result before it is stored."""
    for outcome in result.results:
        detail = outcome.result or {}
        personal = outcome.expectation_config.meta.get("rule") in pii_rules

        def shown(value: Any, personal: bool = personal) -> Any:
            return redactor.sample(value) if personal else value

        for name in ("unexpected_list", "partial_unexpected_list"):
            if name in detail:
                detail[name] = [shown(v) for v in detail[name][:20]]
        for name in ("unexpected_index_list", "partial_unexpected_index_list"):
            if name in detail:
                detail[name] = [{k: (shown(v) if k != "_row_id" else v) for k, v in entry.items()}
                                for entry in detail[name][:20]]
        if "partial_unexpected_counts" in detail:
            detail["partial_unexpected_counts"] = [
                {**entry, "value": shown(entry["value"])} for entry in detail["partial_unexpected_counts"][:20]
            ]
        detail.pop("unexpected_index_query", None)
