"""The gates inside Dagster: a breach blocks downstream models; released rows reach the clean zone.

Runs the `ingest_email` job (load, checks, staging model) in-process on a landing folder this
test writes, so the outcome of each run is known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from orchestration.cli import main
from orchestration.definitions import build_definitions
from orchestration.demo import QUIET
from orchestration.quality import GATE, WARNINGS
from orchestration.settings import Settings

RAW = dg.AssetKey(["raw", "email", "email_events"])
STAGING = dg.AssetKey(["staging", "email", "stg_email__email_events"])


def event(n: int, email: str | None = None, bounce_type: str | None = None) -> dict:
    return {
        "event_id": f"evt_{n:06d}", "event_type": "opened", "email": email or f"person{n}@example.com",
        "subscriber_id": f"sub_{n}", "campaign_id": "cmp_1", "campaign_name": "Launch",
        "occurred_at": "2026-10-01T10:00:00Z", "link_url": None, "bounce_type": bounce_type,
    }


class Platform:
    def __init__(self, root: Path, allow_pii_in_metadata: bool = False) -> None:
        self.settings = Settings(home=root / "home", world_dir=root / "world",
                                 allow_pii_in_metadata=allow_pii_in_metadata)
        self.landing = self.settings.landing_dir / "email"
        self.landing.mkdir(parents=True)
        self.batches = 0
        self.instance = dg.DagsterInstance.ephemeral()
        self.job = build_definitions(self.settings).resolve_job_def("ingest_email")

    def deliver(self, rows: list[dict]) -> None:
        self.batches += 1
        (self.landing / f"email-events-{self.batches:04d}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )

    def run(self) -> dg.ExecuteInProcessResult:
        return self.job.execute_in_process(instance=self.instance, raise_on_error=False, run_config=QUIET)

    def staging_rows(self) -> int:
        with duckdb.connect(str(self.settings.warehouse_path), read_only=True) as con:
            return con.execute("select count(*) from staging.stg_email__email_events").fetchone()[0]

    def env(self) -> dict[str, str]:
        return {"CDP_HOME": str(self.settings.home), "CDP_WORLD_DIR": str(self.settings.world_dir)}


def evaluation(result: dg.ExecuteInProcessResult, name: str):  # noqa: ANN201
    found = [
        e.event_specific_data for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == name
    ]
    assert len(found) == 1, name
    return found[0]


def materialized(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    from orchestration.settings import LOCAL_CRM_TOKEN

    monkeypatch.setenv("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN)  # the job's resources include the CRM API's
    return Platform(tmp_path)


def test_a_breach_blocks_downstream_and_released_rows_flow_on(platform: Platform) -> None:
    # 1. one malformed email in 40: quarantined, under the threshold, the model builds without it
    platform.deliver([event(n, email="jane doe@example.com" if n == 3 else None) for n in range(40)])
    first = platform.run()
    assert first.success
    gate = evaluation(first, GATE)
    assert gate.passed and gate.metadata["rows_quarantined"].value == 1
    assert "j***@e***.com" in gate.metadata["expectations"].value  # sample masked
    assert "jane doe" not in gate.metadata["expectations"].value
    assert gate.metadata["data_docs_email_events"].value.startswith("file://")
    assert STAGING in materialized(first)
    assert platform.staging_rows() == 39

    # 2. released with the CLI: the row reaches the clean zone at the next run
    released = CliRunner().invoke(
        main, ["quarantine", "release", "--source", "email", "--key", "evt_000003", "--note", "address confirmed"],
        env=platform.env(),
    )
    assert released.exit_code == 0, released.output
    assert "released 1 rows" in released.output
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:  # audited, who and why
        (actor, detail), = con.execute("select actor, detail from governance.audit_log"
                                       " where action = 'quarantine.release'").fetchall()
    assert actor.startswith("cli:") and '"note": "address confirmed"' in detail and '"rows": 1' in detail
    second = platform.run()
    assert second.success and platform.staging_rows() == 40

    # 3. a warning passes, with metadata, and downstream still runs
    platform.deliver([event(100 + n, bounce_type="weird" if n == 0 else None) for n in range(20)])
    third = platform.run()
    assert third.success and STAGING in materialized(third)
    warning = evaluation(third, WARNINGS)
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert "bounce_type_accepted" in warning.metadata["warnings"].value
    assert evaluation(third, GATE).passed

    # 4. half the load malformed: the blocking gate fails and the staging model is not built
    platform.deliver([event(200 + n, email="nobody@" if n % 2 else None) for n in range(20)])
    fourth = platform.run()
    assert not fourth.success
    gate = evaluation(fourth, GATE)
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
    assert "email_email_format" in gate.description
    assert RAW in materialized(fourth)  # raw keeps everything
    assert STAGING not in materialized(fourth)
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from raw_email.email_events").fetchone()[0] == 80
        assert con.execute(
            "select count(*) from quality.quarantine where released_at is null and reason = 'malformed_email'"
        ).fetchone()[0] == 10


def test_cdp_allow_pii_in_metadata_shows_the_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The setting reaches the gate through the platform resource: the sample is the value itself,
    in the check metadata and in Data Docs."""
    from orchestration.settings import LOCAL_CRM_TOKEN

    monkeypatch.setenv("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN)
    platform = Platform(tmp_path, allow_pii_in_metadata=True)
    platform.deliver([event(n, email="jane doe@example.com" if n == 3 else None) for n in range(40)])
    result = platform.run()
    assert result.success
    gate = evaluation(result, GATE)
    assert "`jane doe@example.com`" in gate.metadata["expectations"].value
    page = Path(gate.metadata["data_docs_email_events"].value.removeprefix("file://"))
    assert "jane doe@example.com" in page.read_text(encoding="utf-8")
