"""The gate runner on real dlt loads of the email source into a temporary DuckDB.

Each test writes email-platform JSONL batches, loads them with the platform's pipeline and
validates the newest load: clean loads pass, bad rows are quarantined with their reason,
breaches fail the gate, and schema drift gives its promised outcome.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from activations.governance.redaction import REDACT, Redactor
from dlt_sources.email import email_source
from expectations import quarantine
from expectations.docs import DataDocs
from expectations.gate import Gate
from expectations.suites import suites_for
from expectations.warehouse import DuckDBWarehouse
from tests.dlt_sources.loading import run_source

NOW = datetime(2026, 11, 2, tzinfo=timezone.utc)
EMAIL_SUITE = suites_for("email")[0]


def event(n: int, **overrides: object) -> dict:
    row = {
        "event_id": f"evt_{n:06d}", "event_type": "opened", "email": f"person{n}@example.com",
        "subscriber_id": f"sub_{n}", "campaign_id": "cmp_1", "campaign_name": "Launch",
        "occurred_at": "2026-10-01T10:00:00Z", "link_url": None, "bounce_type": None,
    }
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not _DROP}


_DROP = object()


class Feed:
    """A landing folder for the email source, loaded batch by batch into one warehouse."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.landing = root / "landing" / "email"
        self.landing.mkdir(parents=True)
        self.batches = 0

    def load(self, rows: list[dict | str]) -> None:
        """Rows as JSON objects; a string is written as the line itself (to plant unparseable lines)."""
        self.batches += 1
        path = self.landing / f"email-events-{self.batches:04d}.jsonl"
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
        run_source("email", email_source(bucket_url=str(self.landing)), self.root)

    def validate(self, docs: bool = False, redactor: Redactor = REDACT):  # noqa: ANN201
        with DuckDBWarehouse(self.root / "wh.duckdb") as warehouse:
            gate = Gate(warehouse, now=NOW, docs=DataDocs(self.root / "docs") if docs else None, redactor=redactor)
            return gate.validate(EMAIL_SUITE)

    def quarantined(self) -> set[tuple[str, str]]:
        with duckdb.connect(str(self.root / "wh.duckdb"), read_only=True) as con:
            return set(con.execute("select row_key, reason from quality.quarantine").fetchall())


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    return Feed(tmp_path)


def result_of(report, rule_name: str):  # noqa: ANN001, ANN201
    return next(r for r in report.results if r.rule.name == rule_name)


def test_a_clean_load_passes_and_quarantines_nothing(feed: Feed) -> None:
    feed.load([event(n) for n in range(50)])
    report = feed.validate()
    assert report.passed and report.row_count == 50
    assert report.warnings == [] and report.quarantined_rows == 0
    assert feed.quarantined() == set()


def test_only_the_newest_load_is_validated(feed: Feed) -> None:
    feed.load([event(n, email="broken@") for n in range(5)] + [event(n) for n in range(5, 10)])
    first = feed.validate()
    assert not first.passed
    feed.load([event(n) for n in range(10, 40)])
    second = feed.validate()
    assert second.passed and second.row_count == 30 and second.load_id != first.load_id


def test_bad_rows_below_the_threshold_are_quarantined_with_their_reason(feed: Feed) -> None:
    rows = [event(n) for n in range(100)]
    rows[3] = event(3, email="jane doe@example.com")
    rows[7] = event(7, occurred_at="2099-01-01T00:00:00Z")
    rows[9] = event(9, email=None, subscriber_id=None)
    feed.load(rows)
    report = feed.validate()
    assert report.passed, report.critical_failures
    assert report.quarantined_rows == 3
    assert feed.quarantined() == {
        ("evt_000003", "malformed_email"), ("evt_000007", "future_timestamp"), ("evt_000009", "missing_id"),
    }
    email = result_of(report, "email_email_format")
    assert (email.unexpected_count, email.success) == (1, True)
    assert email.samples == ["j***@e***.com"]  # personal data is masked in what the UI shows


def test_a_breach_of_a_critical_threshold_fails_the_gate(feed: Feed) -> None:
    feed.load([event(n, email="nobody@" if n % 2 else f"p{n}@example.com") for n in range(40)])
    report = feed.validate()
    assert not report.passed
    assert any(f.startswith("email_email_format: 20 rows (50.00 %)") for f in report.critical_failures)
    assert len(feed.quarantined()) == 20  # the rows are still set aside, never dropped


def test_a_warning_passes_with_metadata(feed: Feed) -> None:
    feed.load([event(n, bounce_type="weird" if n == 0 else None) for n in range(50)])
    report = feed.validate()
    assert report.passed
    bounce = result_of(report, "bounce_type_accepted")
    assert not bounce.success and bounce.unexpected_count == 1 and bounce.samples == ["weird"]
    assert report.warnings == ["bounce_type_accepted: 1 rows (100.00 %)"]


def test_revalidating_a_load_keeps_first_seen_and_adds_nothing(feed: Feed) -> None:
    feed.load([event(n, email="x@" if n == 1 else f"p{n}@example.com") for n in range(30)])
    first = feed.validate()
    again = feed.validate()
    assert first.new_quarantine_entries == 1 and again.new_quarantine_entries == 0
    with duckdb.connect(str(feed.root / "wh.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from quality.quarantine").fetchone()[0] == 1


def test_row_count_outside_the_band_of_recent_loads_warns(feed: Feed) -> None:
    for batch in range(3):
        feed.load([event(batch * 100 + n) for n in range(100)])
        assert feed.validate().passed
    feed.load([event(1000 + n) for n in range(3)])
    report = feed.validate()
    band = result_of(report, "row_count_in_band")
    assert report.passed and not band.success and band.observed == "3"


# -- schema drift ---------------------------------------------------------------------------------


def test_drift_a_new_column_is_loaded_and_reported_as_a_warning(feed: Feed) -> None:
    feed.load([event(n) for n in range(20)])
    assert feed.validate().warnings == []
    feed.load([event(n, utm_source="newsletter") for n in range(20, 40)])
    report = feed.validate()
    assert report.passed
    assert report.drift.new_columns == ["utm_source"]
    assert "new column `utm_source`" in report.warnings
    with duckdb.connect(str(feed.root / "wh.duckdb"), read_only=True) as con:
        assert con.execute("select count(utm_source) from raw_email.email_events").fetchone()[0] == 20


def test_drift_a_changed_type_is_reported_and_its_rows_quarantined(feed: Feed) -> None:
    feed.load([event(n) for n in range(20)])
    feed.validate()
    feed.load([event(n, occurred_at="yesterday" if n < 22 else "2026-10-02T10:00:00Z") for n in range(20, 40)])
    report = feed.validate()
    assert report.drift.variants == ["occurred_at__v_text"]
    assert any(w.startswith("type change: `occurred_at` received text values") for w in report.warnings)
    assert feed.quarantined() == {("evt_000020", "wrong_type"), ("evt_000021", "wrong_type")}
    assert report.passed  # 2 of 20 is within the warning's tolerance: reported, not blocking


def test_drift_a_dropped_expected_column_is_a_critical_failure(feed: Feed) -> None:
    feed.load([event(n) for n in range(20)])
    feed.validate()
    feed.load([event(n, event_type=_DROP) for n in range(20, 40)])
    report = feed.validate()
    assert not report.passed
    assert "expected column `event_type` is missing from the load" in report.critical_failures


def test_data_docs_are_built_with_personal_data_masked(feed: Feed) -> None:
    feed.load([event(n, email="jane doe@example.com" if n == 0 else f"p{n}@example.com") for n in range(20)])
    report = feed.validate(docs=True)
    page = Path(report.data_docs.removeprefix("file://"))
    assert page.exists() and (feed.root / "docs" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").exists()
    html = page.read_text(encoding="utf-8")
    assert "email_events" in html and "jane doe@example.com" not in html and "j***@e***.com" in html
    assert result_of(report, "email_email_format").samples == ["j***@e***.com"]
    stored = [path.read_text(encoding="utf-8") for path in (feed.root / "docs").rglob("*.json")]
    assert stored and not any("jane doe" in text for text in stored)  # nor in the stored validation result


def test_samples_are_shown_when_the_setting_allows_them(feed: Feed) -> None:
    feed.load([event(n, email="jane doe@example.com" if n == 0 else f"p{n}@example.com") for n in range(20)])
    report = feed.validate(docs=True, redactor=Redactor(allow_samples=True))
    assert result_of(report, "email_email_format").samples == ["jane doe@example.com"]
    assert "jane doe@example.com" in Path(report.data_docs.removeprefix("file://")).read_text(encoding="utf-8")


def test_release_marks_rows_and_a_rerun_does_not_requarantine_them(feed: Feed) -> None:
    feed.load([event(n, email="bad@" if n < 2 else f"p{n}@example.com") for n in range(30)])
    feed.validate()
    with DuckDBWarehouse(feed.root / "wh.duckdb") as warehouse:
        selection = quarantine.Selection(source="email", keys=("evt_000000",))
        assert quarantine.release(warehouse, selection, by="test", note="fixed", now=NOW) == 1
        assert quarantine.release(warehouse, selection, by="test", note="again", now=NOW) == 0
    feed.validate()  # the same load again: the released entry stays released
    with DuckDBWarehouse(feed.root / "wh.duckdb") as warehouse:
        open_rows = quarantine.entries(warehouse, quarantine.Selection(source="email"))
        assert list(open_rows["row_key"]) == ["evt_000001"]


def test_a_few_unparseable_lines_warn_and_many_fail_the_gate(feed: Feed) -> None:
    feed.load([event(n) for n in range(199)] + ['{"event_id": "evt_cut_off'])
    few = feed.validate()
    assert few.passed and few.unparsed_lines == 1
    assert any("1 lines of the load could not be parsed" in w for w in few.warnings)
    feed.load(["not json at all"] * 30 + [event(500 + n) for n in range(10)])
    many = feed.validate()
    assert not many.passed and many.unparsed_lines == 30
    assert any("30 lines of the load could not be parsed (75.00%" in f for f in many.critical_failures)


def test_the_quality_tables_created_by_dbt_match_the_gate_runner() -> None:
    """transform/macros/quality.sql and expectations/quarantine.py define the same quarantine table."""
    import re

    sql = (Path(__file__).parents[2] / "transform" / "macros" / "quality.sql").read_text()
    dbt_body = sql.split("quarantine_relation() ~ ' (", 1)[1].split(")')", 1)[0]
    python_body = quarantine.DDL[1].split("(", 1)[1].rsplit(")", 1)[0]

    def columns(body: str) -> list[tuple[str, ...]]:
        return [tuple(line.strip().rstrip(",").split()) for line in body.strip().splitlines() if line.strip()]

    assert columns(dbt_body) == columns(python_body)
    assert re.search(r"row_id varchar not null", dbt_body)


def test_crm_deal_amounts_kept_as_text_are_checked_as_numbers(tmp_path: Path) -> None:
    """HubSpot keeps every property as a string: the deals suite reads amounts as numbers in text."""
    from dlt_sources.crm import crm_source
    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore

    store = CrmStore(tmp_path / "crm.sqlite")  # bulk_insert skips the API's checks, as an import might
    amounts = ["1200", "99.50", "0", "", "-40", "n/a", *(str(n * 10) for n in range(1, 60))]
    store.bulk_insert("deals", ({"dealname": f"Deal {n}", "amount": a} for n, a in enumerate(amounts)))
    with CrmServer(store.path, token="t") as server:
        run_source("crm", crm_source(base_url=server.base_url, access_token="t", resources=("deals",)), tmp_path)
    with DuckDBWarehouse(tmp_path / "wh.duckdb") as warehouse:
        report = Gate(warehouse).validate(next(s for s in suites_for("crm") if s.table == "deals"))  # stamped now
    assert report.row_count == len(amounts) and report.passed  # 1 row in 65 each: within the tolerances
    assert result_of(report, "properties__amount_number_text").unexpected_count == 1
    assert result_of(report, "properties__amount_non_negative").unexpected_count == 1
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        quarantined = con.execute(
            "select d.properties__amount, q.reason from quality.quarantine q join raw_crm.deals d on d.id = q.row_key"
        ).fetchall()
    assert sorted(quarantined) == [("-40", "negative_amount"), ("n/a", "wrong_type")]
