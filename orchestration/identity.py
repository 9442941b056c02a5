"""Identity resolution in Dagster: the probabilistic-matching step between the dbt models, and
the identity-health asset whose blocking checks stop profiles and activation when the graph
looks broken.

Lineage: dbt identity models -> `identity/int_identity__match_candidates` -> Splink
(`identity/identity_match_pairs`, `identity/identity_review_queue`) -> dbt final components,
customer ids and records -> `identity/identity_health` (+ blocking checks) -> dbt profiles.
The dbt assets are one subsettable multi-asset; Dagster runs it in steps around these.
"""


import dataclasses
from datetime import datetime, timezone

import dagster as dg

from orchestration.policy import DUCKDB_WRITERS_POOL, EAGER
from orchestration.redaction import redacted_errors
from orchestration.resources import PlatformResource

IDENTITY_GROUP = "identity"
CANDIDATES = dg.AssetKey(["identity", "int_identity__match_candidates"])
MATCH_PAIRS = dg.AssetKey(["identity", "identity_match_pairs"])
REVIEW_QUEUE = dg.AssetKey(["identity", "identity_review_queue"])
HEALTH = dg.AssetKey(["identity", "identity_health"])
HEALTH_INPUTS = [
    dg.AssetKey(["identity", name])
    for name in ("identity_customers", "customer_records", "customer_identifiers", "identity_dropped_links",
                 "identity_merge_history")
]
HEALTH_CHECKS = ("largest_component_within_bound", "merges_within_bound", "limits_respected")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(MATCH_PAIRS, deps=[CANDIDATES], group_name=IDENTITY_GROUP, automation_condition=EAGER,
                     description="Splink-scored record pairs of this run at or above the review threshold."),
        dg.AssetSpec(REVIEW_QUEUE, deps=[CANDIDATES], group_name=IDENTITY_GROUP, automation_condition=EAGER,
                     description="Grey-band pairs waiting for a person's decision (`cdp identity review`)."),
    ],
    pool=DUCKDB_WRITERS_POOL,
    name="probabilistic_matching",
)
def probabilistic_matching(context: dg.AssetExecutionContext, platform: PlatformResource):
    """Scores candidate pairs with Splink inside the warehouse; auto-merge pairs become graph links."""
    from transform.matching.runner import run_matching
    from transform.matching.settings import load_settings

    with redacted_errors(platform.redactor), platform.warehouse() as warehouse:
        report = run_matching(warehouse, load_settings(), datetime.now(timezone.utc))
    values = {k: v for k, v in dataclasses.asdict(report).items() if isinstance(v, (int, float))}
    context.log.info("probabilistic matching: %s", values)
    metadata = {k: (dg.MetadataValue.float(float(v)) if isinstance(v, float) else dg.MetadataValue.int(int(v)))
                for k, v in values.items()}
    yield dg.MaterializeResult(asset_key=MATCH_PAIRS, metadata=metadata)
    yield dg.MaterializeResult(asset_key=REVIEW_QUEUE, metadata={
        k: metadata[k] for k in metadata if k.startswith("queue")})


@dg.asset(
    key=HEALTH,
    deps=HEALTH_INPUTS,
    group_name=IDENTITY_GROUP,
    automation_condition=EAGER,
    pool=DUCKDB_WRITERS_POOL,
    check_specs=[dg.AssetCheckSpec(name, asset=HEALTH, blocking=True) for name in HEALTH_CHECKS],
    description="Identity-graph metrics of each run, kept in identity.identity_health_history; "
                "blocking checks stop profiles and activation when the graph looks broken.",
)
def identity_health(context: dg.AssetExecutionContext, platform: PlatformResource):
    from transform.health import HealthBounds, measure, problems, record

    bounds = HealthBounds.from_dbt_project()
    with redacted_errors(platform.redactor), platform.warehouse() as warehouse:
        report = measure(warehouse, datetime.now(timezone.utc))
        record(warehouse, report, context.run.run_id)
    rates = "\n".join(f"| {table} | {rate:.1%} |" for table, rate in sorted(report.match_rate.items()))
    dropped = "\n".join(f"| {rule} | {n:,} |" for rule, n in sorted(report.dropped_links.items())) or "| (none) | 0 |"
    metadata = {
        "customers": dg.MetadataValue.int(report.customers),
        "records": dg.MetadataValue.int(report.records),
        "records_linked": dg.MetadataValue.int(report.records_linked),
        "largest_component_records": dg.MetadataValue.int(report.largest_component_records),
        "merges_since_last_run": dg.MetadataValue.int(report.merges),
        "splits_since_last_run": dg.MetadataValue.int(report.splits),
        "review_queue_pending": dg.MetadataValue.int(report.review_queue_pending),
        "limit_violations": dg.MetadataValue.int(report.limit_violations),
        "match_rate_by_source": dg.MetadataValue.md("| source table | records linked |\n|---|---|\n" + rates),
        "dropped_links_by_rule": dg.MetadataValue.md("| rule | links |\n|---|---|\n" + dropped),
    }
    if report.components_passes is not None:
        metadata["components_passes"] = dg.MetadataValue.int(report.components_passes)
    yield dg.MaterializeResult(metadata=metadata)
    for name, problem in problems(report, bounds).items():
        yield dg.AssetCheckResult(
            check_name=name,
            passed=problem is None,
            severity=dg.AssetCheckSeverity.ERROR,
            description=problem or "within bounds",
        )


def identity_assets() -> list:
    return [probabilistic_matching, identity_health]
