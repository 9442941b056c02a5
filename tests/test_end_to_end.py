"""One end-to-end materialization of every asset on a small world, checked against ground truth."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import dagster as dg
import duckdb
import phonenumbers
import pytest

from orchestration.demo import RAW_TABLE_OF, STAGING_TRUTH, GroundTruth, run_demo
from orchestration.settings import Settings

pytestmark = pytest.mark.e2e



@pytest.fixture(scope="module")
def platform_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, object]:
    home = tmp_path_factory.mktemp("e2e")
    settings = Settings(home=home, world_dir=home / "world")
    lines: list[str] = []
    outcome = run_demo(settings, people=400, seed=3, echo=lines.append, instance=dg.DagsterInstance.ephemeral())
    return settings, (outcome, "\n".join(lines))


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.warehouse_path), read_only=True)


def truth(settings: Settings) -> Counter:
    with (settings.world_dir / "ground_truth" / "records.csv").open(newline="") as handle:
        return Counter((row["source"], row["table"]) for row in csv.DictReader(handle))


def test_every_asset_and_check_succeeds(platform_run) -> None:
    _, (outcome, text) = platform_run
    assert outcome.success, text
    assert outcome.failed_checks == []
    assert "OK in" in text


@pytest.mark.parametrize("model", sorted(STAGING_TRUTH))
def test_staging_holds_one_row_per_good_true_record(platform_run, model: str) -> None:
    """Every true record minus the planted bad ones (and order lines waiting with a bad order)."""
    settings, _ = platform_run
    ground = GroundTruth.read(settings.world_dir / "ground_truth")
    ground.count_held(settings.warehouse_path)
    with connect(settings) as con:
        count = con.execute(f"select count(*) from staging.{model}").fetchone()[0]
    assert count == ground.clean(STAGING_TRUTH[model])
    assert ground.clean(STAGING_TRUTH[model]) < truth(settings)[STAGING_TRUTH[model]] or model == "stg_commerce__customers"


def test_every_planted_bad_row_is_quarantined_with_its_reason_and_nothing_else(platform_run) -> None:
    settings, _ = platform_run
    planted = set()
    with (settings.world_dir / "ground_truth" / "bad_rows.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            table = RAW_TABLE_OF.get((row["source"], row["table"]), row["table"])
            key = f"{row['table']}:{row['record_key']}" if row["source"] == "lists" else row["record_key"]
            planted.add((row["source"], table, key, row["kind"]))
    with connect(settings) as con:
        quarantined = set(con.execute("select source, table_name, row_key, reason from quality.quarantine").fetchall())
    assert quarantined == planted
    kinds = Counter((source, table, kind) for source, table, _, kind in quarantined)
    assert kinds == GroundTruth.read(settings.world_dir / "ground_truth").bad_kinds


def test_raw_keeps_the_quarantined_rows(platform_run) -> None:
    settings, _ = platform_run
    with connect(settings) as con:
        missing = con.execute(
            "select count(*) from quality.quarantine q where q.source = 'events'"
            " and q.row_id not in (select _dlt_id from raw_events.events)"
        ).fetchone()[0]
    assert missing == 0


def test_raw_events_keep_every_delivery(platform_run) -> None:
    settings, _ = platform_run
    lines = sum(1 for path in (settings.landing_dir / "events").glob("*.jsonl") for _ in path.open())
    with connect(settings) as con:
        assert con.execute("select count(*) from raw_events.events").fetchone()[0] == lines


def test_phone_normalization_agrees_with_libphonenumber(platform_run) -> None:
    """The portable SQL normalizer gives what Google's libphonenumber gives, for every CRM phone."""
    settings, _ = platform_run
    with connect(settings) as con:
        rows = con.execute(
            "select raw.properties__phone, raw.properties__country, stg.phone "
            "from raw_crm.contacts raw join staging.stg_crm__contacts stg on stg.contact_id = cast(raw.id as varchar) "
            "where raw.properties__phone is not null"
        ).fetchall()
    assert len(rows) > 50
    mismatches = []
    for raw_phone, country, normalized in rows:
        region = {"United States": "US", "United Kingdom": "GB", "Canada": "CA"}.get(country, country) or "US"
        try:
            parsed = phonenumbers.parse(raw_phone, region if len(region) == 2 else "US")
            expected = (
                phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                # a number valid only for local dialling (no area code) has no E.164 form
                if phonenumbers.is_possible_number_with_reason(parsed) == phonenumbers.ValidationResult.IS_POSSIBLE
                and not any(ch.isalpha() for ch in raw_phone)
                else None
            )
        except phonenumbers.NumberParseException:
            expected = None
        if expected != normalized:
            mismatches.append((raw_phone, country, normalized, expected))
    assert mismatches == []


def test_emails_are_trimmed_lower_case_and_malformed_ones_never_reach_staging(platform_run) -> None:
    settings, _ = platform_run
    with connect(settings) as con:
        bad = con.execute(
            "select count(*) from staging.stg_crm__contacts where email <> lower(trim(email)) or email not like '%@%.%'"
        ).fetchone()[0]
        nulled = con.execute(
            "select count(*) from staging.stg_crm__contacts where email is null and email_as_entered is not null"
        ).fetchone()[0]
    assert bad == 0
    # the planted malformed addresses are quarantined, so the normalizer nulls nothing here
    assert nulled == 0
