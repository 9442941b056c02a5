"""Quality gates in Dagster: per raw asset, a blocking `quality_gate` check and a `quality_warnings` check.

One multi-asset check per source validates the newest load of each of its tables once (see
`expectations.gate`) and reports both checks of every asset:

- `quality_gate` (blocking): fails with ERROR when a critical expectation breaks beyond its
  tolerance or an expected column was dropped or retyped. Dagster then skips everything
  downstream of the asset in the run: staging models, identity, activations.
- `quality_warnings`: fails with WARN (downstream still runs) on warning expectations, new
  columns and type changes; passes when there is nothing to report.

Rows that fail row-level expectations are quarantined either way. Samples of failing personal
values are masked in the metadata and Data Docs unless CDP_ALLOW_PII_IN_METADATA is on.
"""

from collections.abc import Iterator

import dagster as dg

from dlt_sources.pipelines import SOURCES
from expectations.rules import CRITICAL
from expectations.suites import suites_for
from orchestration.policy import DUCKDB_WRITERS_POOL
from orchestration.redaction import redacted_errors
from orchestration.resources import PlatformResource

GATE = "quality_gate"
WARNINGS = "quality_warnings"


def _asset_key(source: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", source, table])


def _expectations_markdown(reports: list) -> str:
    lines = [
        "| table | expectation | severity | tolerated | result | unexpected | % | samples |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        for r in report.results:
            if not r.applicable:
                outcome = f"skipped ({r.note})"
            else:
                outcome = "pass" if r.success else ("**FAIL**" if r.rule.severity == CRITICAL else "warn")
            samples = ", ".join(f"`{s}`" for s in r.samples) if r.samples else ""
            observed = f"{r.unexpected_count:,}" if r.rule.row_level else r.observed
            lines.append(
                f"| {report.suite.table} | {r.rule.name} | {r.rule.severity} | {r.rule.tolerate:.1%} | {outcome}"
                f" | {observed} | {r.unexpected_percent:.2f} | {samples} |"
            )
    return "\n".join(lines)


def _metadata(reports: list, platform: PlatformResource) -> dict:
    from expectations.docs import DataDocs

    metadata: dict = {
        "load_id": dg.MetadataValue.text(", ".join(sorted({str(r.load_id) for r in reports}))),
        "rows_validated": dg.MetadataValue.int(sum(r.row_count for r in reports)),
        "rows_quarantined": dg.MetadataValue.int(sum(r.quarantined_rows for r in reports)),
        "expectations": dg.MetadataValue.md(_expectations_markdown(reports)),
        "data_docs_index": dg.MetadataValue.url(DataDocs.index_of(platform.data_docs_dir).as_uri()),
    }
    for report in reports:
        if report.data_docs:
            metadata[f"data_docs_{report.suite.table}"] = dg.MetadataValue.url(report.data_docs)
        if report.note:
            metadata[f"note_{report.suite.table}"] = dg.MetadataValue.text(report.note)
    return metadata


def _source_checks(source: str) -> dg.AssetChecksDefinition:
    suites = suites_for(source)
    assets = sorted({suite.asset_table for suite in suites})
    specs = []
    for table in assets:
        mine = [suite for suite in suites if suite.asset_table == table]
        tables = ", ".join(f"`{suite.table}`" for suite in mine)
        specs.append(
            dg.AssetCheckSpec(
                GATE,
                asset=_asset_key(source, table),
                blocking=any(suite.columns or any(r.severity == CRITICAL for r in suite.rules) for suite in mine),
                description=f"Critical expectations of {tables} on the newest load (expectations/suites/{source}.py); "
                "failing rows are quarantined, a breach blocks everything downstream.",
            )
        )
        specs.append(
            dg.AssetCheckSpec(
                WARNINGS,
                asset=_asset_key(source, table),
                description=f"Warning expectations and schema drift (new columns, type changes) of {tables}.",
            )
        )

    @dg.multi_asset_check(
        specs=specs,
        name=f"quality_gates_{source}",
        can_subset=True,
        pool=DUCKDB_WRITERS_POOL,
        description=f"Validates the newest `{source}` load with Great Expectations and quarantines failing rows.",
    )
    def _checks(context: dg.AssetCheckExecutionContext, platform: PlatformResource) -> Iterator[dg.AssetCheckResult]:
        from expectations.docs import DataDocs
        from expectations.gate import Gate

        selected = context.selected_asset_check_keys
        wanted = {key.asset_key.path[-1] for key in selected}
        with redacted_errors(platform.redactor), platform.warehouse() as warehouse:
            gate = Gate(warehouse, docs=DataDocs(platform.data_docs_dir),
                        default_phone_region=platform.default_phone_region, redactor=platform.redactor)
            reports = gate.validate_all(tuple(suite for suite in suites if suite.asset_table in wanted))
        for table in (table for table in assets if table in wanted):
            key = _asset_key(source, table)
            mine = [report for report in reports if report.suite.asset_table == table]
            metadata = _metadata(mine, platform)
            outcomes = (
                (GATE, dg.AssetCheckSeverity.ERROR, "critical_failures", [f"{r.suite.table}: {m}" for r in mine for m in r.critical_failures], "every critical expectation holds"),
                (WARNINGS, dg.AssetCheckSeverity.WARN, "warnings", [f"{r.suite.table}: {m}" for r in mine for m in r.warnings], "no warnings"),
            )
            for name, severity, label, problems, fine in outcomes:
                if dg.AssetCheckKey(key, name) in selected:
                    yield dg.AssetCheckResult(
                        asset_key=key,
                        check_name=name,
                        passed=not problems,
                        severity=severity,
                        description="; ".join(problems) or fine,
                        metadata={**metadata, label: dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
                    )

    return _checks


def quality_checks() -> list[dg.AssetChecksDefinition]:
    return [_source_checks(name) for name in SOURCES]
