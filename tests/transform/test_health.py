"""Identity-health bounds: the blocking checks' verdicts and their configuration errors."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from transform.health import HealthBounds, HealthConfigError, HealthReport, limit_types, problems

BOUNDS = HealthBounds(max_component_records=100, max_merges_per_run=10, max_merge_rate=0.05)


def report(**changes) -> HealthReport:
    values = dict(measured_at=datetime(2026, 11, 1, tzinfo=timezone.utc), customers=1_000, records=20_000,
                  records_linked=19_000, largest_component_records=80, largest_component_customer="cus_a",
                  merges=3, splits=1, limit_violations=0, review_queue_pending=2, components_passes=3)
    return HealthReport(**{**values, **changes})


def test_a_healthy_graph_passes_every_check() -> None:
    assert problems(report(), BOUNDS) == dict.fromkeys(
        ("largest_component_within_bound", "merges_within_bound", "limits_respected"))


@pytest.mark.parametrize(
    ("changes", "check", "says"),
    [
        ({"largest_component_records": 101}, "largest_component_within_bound", "customer cus_a holds 101 records"),
        ({"merges": 11}, "merges_within_bound", "11 merges since the last run"),
        ({"merges": 9, "customers": 150}, "merges_within_bound", "6.0% of customers"),
        ({"limit_violations": 2}, "limits_respected", "2 customers hold more values"),
    ],
)
def test_a_broken_graph_fails_the_check_that_names_it(changes: dict, check: str, says: str) -> None:
    found = problems(report(**changes), BOUNDS)
    assert says in (found[check] or "")
    assert [name for name, problem in found.items() if problem] == [check]


def test_bounds_and_limits_come_from_the_dbt_project() -> None:
    bounds = HealthBounds.from_dbt_project()
    assert bounds.max_component_records > 0 and 0 < bounds.max_merge_rate < 1
    assert limit_types() == {"user_id": 1, "crm_contact_id": 1, "loyalty_id": 1}


def test_a_bad_bound_is_named(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project.yml"
    project.write_text("vars:\n  identity:\n    health: {max_component_records: 10, max_merges_per_run: -1,"
                       " max_merge_rate: 0.1}\n")
    with pytest.raises(HealthConfigError, match="vars.identity.health.max_merges_per_run must be a positive"):
        HealthBounds.from_dbt_project(project)
    project.write_text("vars: {}\n")
    with pytest.raises(HealthConfigError, match="has no vars.identity.health section"):
        HealthBounds.from_dbt_project(project)
