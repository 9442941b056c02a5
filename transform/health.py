"""Identity health: metrics of each identity-resolution run, kept as history, and the bounds
that say the graph looks broken (read from `vars.identity.health` in dbt_project.yml).

Plain Python over the warehouse wrapper (`expectations.warehouse`): Dagster shows the metrics
as metadata and turns the bounds into blocking checks (orchestration/identity.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from transform.project import ProjectConfigError, project_var

HISTORY_TABLE = "identity.identity_health_history"
HEALTH_KEYS = ("max_component_records", "max_merges_per_run", "max_merge_rate")


class HealthConfigError(ValueError):
    """vars.identity.health is missing a bound or has a bad value."""


@dataclass(frozen=True)
class HealthBounds:
    max_component_records: int
    max_merges_per_run: int
    max_merge_rate: float

    @classmethod
    def from_dbt_project(cls, path: Path | None = None) -> HealthBounds:
        try:
            health = project_var("identity.health", path)
        except ProjectConfigError as exc:
            raise HealthConfigError(str(exc)) from exc
        values = {}
        for key in HEALTH_KEYS:
            value = health.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise HealthConfigError(f"vars.identity.health.{key} must be a positive number, got {value!r}")
            values[key] = value
        return cls(int(values["max_component_records"]), int(values["max_merges_per_run"]), float(values["max_merge_rate"]))


def limit_types(path: Path | None = None) -> dict[str, int]:
    """Identifier type -> max_per_customer, from vars.identity.identifier_types."""
    return {spec["type"]: int(spec["max_per_customer"]) for spec in project_var("identity", path)["identifier_types"]
            if spec.get("max_per_customer") is not None}


@dataclass
class HealthReport:
    measured_at: datetime
    customers: int
    records: int
    records_linked: int
    largest_component_records: int
    largest_component_customer: str | None
    merges: int
    splits: int
    limit_violations: int
    review_queue_pending: int
    components_passes: int | None
    match_rate: dict[str, float] = field(default_factory=dict)  # source/table -> share of records linked
    dropped_links: dict[str, int] = field(default_factory=dict)  # rule -> links dropped

    @property
    def merge_rate(self) -> float:
        return self.merges / self.customers if self.customers else 0.0

    def rows(self) -> list[tuple[str, str, float]]:
        """(metric, dimension, value) rows for the history table."""
        rows = [
            ("customers", "", self.customers), ("records", "", self.records),
            ("records_linked", "", self.records_linked),
            ("largest_component_records", "", self.largest_component_records),
            ("merges", "", self.merges), ("splits", "", self.splits),
            ("limit_violations", "", self.limit_violations),
            ("review_queue_pending", "", self.review_queue_pending),
        ]
        if self.components_passes is not None:
            rows.append(("components_passes", "", self.components_passes))
        rows += [("match_rate", table, rate) for table, rate in sorted(self.match_rate.items())]
        rows += [("dropped_links", rule, n) for rule, n in sorted(self.dropped_links.items())]
        return [(m, d, float(v)) for m, d, v in rows]


def _scalar(warehouse: Any, sql: str, params: tuple = ()) -> Any:
    frame = warehouse.query(sql, params)
    return None if frame.empty else frame.iat[0, 0]


def last_measured_at(warehouse: Any) -> datetime | None:
    if not warehouse.table_exists("identity", "identity_health_history"):
        return None
    value = _scalar(warehouse, f"select max(measured_at) from {HISTORY_TABLE}")
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def measure(warehouse: Any, now: datetime, limits: dict[str, int] | None = None) -> HealthReport:
    """Reads the identity tables dbt just built. Merges and splits count history events since
    the previous measurement (all of them on the first)."""
    for table in ("identity_customers", "customer_records", "customer_identifiers", "identity_dropped_links",
                  "identity_merge_history"):
        if not warehouse.table_exists("identity", table):
            raise RuntimeError(f"identity.{table} does not exist: build the identity models (dbt) first")
    limits = limit_types() if limits is None else limits
    since = last_measured_at(warehouse)
    customers = int(_scalar(warehouse, "select count(*) from identity.identity_customers where status = 'active'"))
    by_table = warehouse.query(
        "select source_name || '/' || table_name as source_table, count(*) as records, "
        "count(customer_id) as linked from identity.customer_records group by 1 order by 1"
    )
    largest = warehouse.query(
        "select customer_id, count(*) as records from identity.customer_records where customer_id is not null "
        "group by customer_id order by records desc, customer_id limit 1"
    )
    events = warehouse.query(
        "select event_type, count(*) as n from identity.identity_merge_history"
        + (" where occurred_at > ?" if since else "") + " group by event_type",
        (since,) if since else (),
    )
    counts = dict(zip(events["event_type"], events["n"].astype(int))) if not events.empty else {}
    violations = 0
    for id_type, limit in limits.items():
        violations += int(_scalar(
            warehouse,
            "select count(*) from (select customer_id from identity.customer_identifiers where identifier_type = ? "
            "group by customer_id having count(*) > ?) as over_limit",
            (id_type, limit),
        ))
    dropped = warehouse.query("select drop_rule, count(*) as n from identity.identity_dropped_links group by drop_rule")
    pending = 0
    if warehouse.table_exists("identity", "identity_review_queue"):
        pending = int(_scalar(warehouse, "select count(*) from identity.identity_review_queue where status = 'pending'"))
    passes = None
    if warehouse.table_exists("identity", "connected_components_runs"):
        value = _scalar(
            warehouse,
            "select passes from identity.connected_components_runs "
            "where model_name = 'int_identity__deterministic_components' order by finished_at desc limit 1",
        )
        passes = None if value is None or pd.isna(value) else int(value)
    return HealthReport(
        measured_at=now,
        customers=customers,
        records=int(by_table["records"].sum()) if not by_table.empty else 0,
        records_linked=int(by_table["linked"].sum()) if not by_table.empty else 0,
        largest_component_records=int(largest["records"].iat[0]) if not largest.empty else 0,
        largest_component_customer=str(largest["customer_id"].iat[0]) if not largest.empty else None,
        merges=int(counts.get("merge", 0)),
        splits=int(counts.get("split", 0)),
        limit_violations=violations,
        review_queue_pending=pending,
        components_passes=passes,
        match_rate={row.source_table: (row.linked / row.records if row.records else 0.0)
                    for row in by_table.itertuples()},
        dropped_links={str(row.drop_rule): int(row.n) for row in dropped.itertuples()},
    )


def record(warehouse: Any, report: HealthReport, run_id: str = "") -> None:
    """Appends the report to identity.identity_health_history (created on first use)."""
    warehouse.execute("create schema if not exists identity")
    warehouse.execute(
        f"create table if not exists {HISTORY_TABLE} (measured_at timestamp with time zone, run_id text, "
        "metric text, dimension text, value double precision)"
    )
    frame = pd.DataFrame(
        [(report.measured_at, run_id, m, d, v) for m, d, v in report.rows()],
        columns=["measured_at", "run_id", "metric", "dimension", "value"],
    )
    warehouse.insert_frame(HISTORY_TABLE, frame)


def problems(report: HealthReport, bounds: HealthBounds) -> dict[str, str | None]:
    """Check name -> what is wrong (None when healthy)."""
    return {
        "largest_component_within_bound": (
            f"customer {report.largest_component_customer} holds {report.largest_component_records:,} records, "
            f"above the bound of {bounds.max_component_records:,} (vars.identity.health.max_component_records)"
            if report.largest_component_records > bounds.max_component_records else None
        ),
        "merges_within_bound": (
            f"{report.merges:,} merges since the last run ({report.merge_rate:.1%} of customers), above the bound of "
            f"{bounds.max_merges_per_run:,} or {bounds.max_merge_rate:.0%} (vars.identity.health)"
            if report.merges > bounds.max_merges_per_run
            or (report.merges > 0 and report.merge_rate > bounds.max_merge_rate and report.customers >= 100) else None
        ),
        "limits_respected": (
            f"{report.limit_violations:,} customers hold more values of a one-per-customer type than allowed"
            if report.limit_violations else None
        ),
    }
