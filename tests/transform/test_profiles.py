"""Customer profiles (transform/models/profiles) on a small generated world, checked against ground truth.

The module builds its own warehouse: the small world's six sources loaded with the platform's
dlt pipelines (the CRM through its local API server), then `dbt build` of the profile models
and everything upstream (staging, identity), with their data tests and unit tests, as of a
fixed `profiles_as_of`. No quality gates run here, so planted bad rows reach staging; nothing
below depends on them being gone.

`check_profiles(con, ground_truth_dir)` holds the assertions so that the end-to-end test can
run them on its own warehouse too. The survivorship, RFM and consent rules have dbt unit tests
beside their models (`unit_tests:` in the model YAML); they run in the build here.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.settings import DBT_PROJECT_DIR, Settings
from tests.postgres_server import postgres_bin_dir, running_postgres

AS_OF = "2026-11-01T00:00:00Z"  # the sample world's default end
CRM_TOKEN = "profiles-test-token"
SELECTION = "+path:models/profiles"  # the profile models and everything they read
# golden-record column -> people.csv column
TRUTH_COLUMN = {"first_name": "first_name", "last_name": "last_name", "email": "email", "phone": "phone_e164"}


# --- building a warehouse ----------------------------------------------------------------


def load_sources(settings: Settings) -> None:
    """Every source of the world into the settings' warehouse, as the platform's pipelines load them."""
    from dlt_sources.crm import crm_source
    from dlt_sources.pipelines import SOURCES, destination, loader_file_format, make_pipeline
    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore

    if settings.target == "duckdb":
        dest = destination("duckdb", warehouse_path=settings.warehouse_path)
    else:
        dest = destination("postgres", postgres_url=settings.postgres.url)
    crm_db = settings.home / "crm.sqlite"
    CrmStore(crm_db).seed_from_jsonl(settings.crm_seed_dir)
    with CrmServer(crm_db, token=CRM_TOKEN) as server:
        for name, spec in SOURCES.items():
            if name == "crm":
                source = crm_source(base_url=server.base_url, access_token=CRM_TOKEN)
            elif spec.kind == "landing":
                source = spec.factory(bucket_url=str(settings.landing(name)))
            else:
                source = spec.factory(credentials=settings.pos_database_url)
            pipeline = make_pipeline(name, dest, settings.pipelines_dir)
            pipeline.run(source, loader_file_format=loader_file_format(settings.target))


def dbt_build(settings: Settings, target_path: Path, *args: str) -> str:
    """`dbt build` of the profile models and their upstream; returns the output, fails the test on an error."""
    dbt = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
    result = subprocess.run(
        [dbt, "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target_path), "--log-path", str(target_path / "logs"),
         "--select", SELECTION, "--indirect-selection", "cautious", "--vars", json.dumps({"profiles_as_of": AS_OF}), *args],
        env={**os.environ, **settings.dbt_env()},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    return result.stdout


def build_warehouse(world: Path, home: Path, **settings_args: Any) -> Settings:
    settings = Settings(home=home, world_dir=world, **settings_args)
    load_sources(settings)
    dbt_build(settings, home / "dbt_target")
    return settings


# --- the checks --------------------------------------------------------------------------


def _rows(con: Any, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on a DuckDB or a DB-API (psycopg2) connection."""
    cursor = con.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _project_vars() -> dict[str, Any]:
    with (DBT_PROJECT_DIR / "dbt_project.yml").open() as handle:
        return yaml.safe_load(handle)["vars"]


@dataclass
class AttributeScore:
    """How often a golden attribute equals the true person's, over single-person customers."""

    right: int = 0
    wrong: int = 0  # the customer's records state the true value, survivorship chose another
    not_stated: int = 0  # no record of the customer states the true value (only a typo, say)
    missing: int = 0  # no value in the profile

    @property
    def share(self) -> float:
        """Right among the customers where survivorship could be right."""
        return self.right / (self.right + self.wrong) if self.right + self.wrong else 1.0

    @property
    def raw_share(self) -> float:
        """Right among every customer with a value."""
        total = self.right + self.wrong + self.not_stated
        return self.right / total if total else 1.0


@dataclass
class ProfileCheck:
    customers: int
    single_person_customers: int
    attributes: dict[str, AttributeScore] = field(default_factory=dict)
    buyers: int = 0
    consent_rows: int = 0
    customers_without_records: int = 0

    def __str__(self) -> str:
        parts = [f"{self.customers} profiles, {self.single_person_customers} of one true person, {self.buyers} buyers,"
                 f" {self.customers_without_records} without any record"]
        for name, score in self.attributes.items():
            parts.append(f"{name} {score.share:.4f} (raw {score.raw_share:.4f}; {score.right} right, "
                         f"{score.wrong} wrong, {score.not_stated} true value not stated, {score.missing} empty)")
        return "\n".join(parts)


def check_profiles(con: Any, ground_truth_dir: Path, *, min_share: float = 0.99, min_raw_share: float = 0.97) -> ProfileCheck:
    """Asserts the profile layer against the warehouse it was built from and the world's ground truth.

    - one profile per active customer, nothing else;
    - for customers whose records all belong to one true person, the golden email, phone, first
      and last name equal that person's in at least `min_share` of the customers where some
      record states the true value (what survivorship can choose from), and in at least
      `min_raw_share` of all of them (a customer made of one typo'd CRM duplicate cannot be right);
    - orders_count, revenue and revenue_usd equal the completed commerce/orders records of the customer;
    - customer_consent follows the latest-signal rule over customer_consent_history.
    """
    from dlt_sources.sample_world.evaluation import bad_record_keys, read_truth

    profiles = {row[0]: row for row in _rows(con, "select customer_id, email, phone, first_name, last_name,"
                                                  " orders_count, revenue, revenue_usd, revenue_currency, records_count,"
                                                  " first_seen_at, last_seen_at from profiles.customer_profiles")}
    active = {row[0] for row in _rows(con, "select customer_id from identity.identity_customers where status = 'active'")}
    assert len(profiles) == len(_rows(con, "select customer_id from profiles.customer_profiles")), "one row per customer"
    assert set(profiles) == active, "a profile for every active customer and no other"

    # golden attributes against the true person
    truth = read_truth(ground_truth_dir, bad_record_keys(ground_truth_dir))
    with (ground_truth_dir / "people.csv").open(newline="") as handle:
        people = {row["person_id"]: row for row in csv.DictReader(handle)}
    persons: dict[str, set[str]] = defaultdict(set)
    for ref, customer in _rows(con, "select record_ref, customer_id from identity.customer_records where customer_id is not null"):
        if ref in truth:  # planted bad rows are not in the truth (and are quarantined on the platform)
            persons[customer].add(truth[ref])
    # what survivorship can choose from: values the customer's records state (an email or phone
    # only when it is one of the customer's identifiers)
    own = set(_rows(con, "select customer_id, identifier_type, identifier_value from identity.customer_identifiers"
                         " where identifier_type in ('email', 'phone')"))
    stated: dict[tuple[str, str], set[str]] = defaultdict(set)
    for customer, *values in _rows(con, "select customer_id, email, phone, first_name, last_name"
                                        " from profiles.int_profiles__attribute_candidates"):
        for name, value in zip(("email", "phone", "first_name", "last_name"), values):
            if value is not None and (name not in ("email", "phone") or (customer, name, value) in own):
                stated[(customer, name)].add(value)
    scores = {name: AttributeScore() for name in TRUTH_COLUMN}
    single = 0
    for customer, row in profiles.items():
        owners = persons.get(customer, set())
        if len(owners) != 1 or next(iter(owners)) not in people:
            continue
        single += 1
        person = people[next(iter(owners))]
        for name, value in zip(("email", "phone", "first_name", "last_name"), row[1:5]):
            score, true_value = scores[name], person[TRUTH_COLUMN[name]]
            if value is None:
                score.missing += 1
            elif value == true_value:
                score.right += 1
            elif true_value in stated[(customer, name)]:
                score.wrong += 1
            else:
                score.not_stated += 1
    result = ProfileCheck(customers=len(profiles), single_person_customers=single, attributes=scores)
    assert single >= 0.9 * len(active), result
    for name, score in scores.items():
        assert score.right > 0, (name, result)
        assert score.share >= min_share, (name, str(result))
        assert score.raw_share >= min_raw_share, (name, str(result))

    # purchases: the completed commerce/orders records of each customer, placed by profile_as_of
    as_of = _rows(con, "select max(profile_as_of) from profiles.customer_profiles")[0][0]
    rates = {code.upper(): Decimal(str(rate)) for code, rate in _project_vars()["profiles"]["fx_rates_to_usd"].items()}
    orders: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for customer, currency, amount, ordered_at in _rows(con, (
            "select records.customer_id, orders.currency, orders.total_amount, orders.ordered_at"
            " from staging.stg_commerce__orders as orders"
            " join identity.customer_records as records on records.source_name = 'commerce'"
            " and records.table_name = 'orders' and records.record_key = orders.order_id"
            " where records.customer_id is not null and orders.status = 'completed'")):
        if ordered_at is None or ordered_at <= as_of:
            orders[customer].append((currency, Decimal(str(amount))))
    for customer, row in profiles.items():
        mine = orders.get(customer, [])
        orders_count, revenue, revenue_usd, currency = row[5], row[6], row[7], row[8]
        assert orders_count == len(mine), (customer, orders_count, mine)
        currencies = {c for c, _ in mine}
        if not mine:
            assert (revenue, revenue_usd, currency) == (0, 0, None), (customer, row)
        elif len(currencies) == 1:
            assert currency == next(iter(currencies)) and abs(Decimal(str(revenue)) - sum(a for _, a in mine)) < Decimal("0.01")
        else:
            assert revenue is None and currency is None, (customer, row)
        expected_usd = sum((a * rates[c] for c, a in mine), Decimal(0))
        assert abs(Decimal(str(revenue_usd)) - expected_usd) < Decimal("0.01"), (customer, revenue_usd, expected_usd)
    result.buyers = sum(1 for mine in orders.values() if mine)
    assert result.buyers > 0

    # activity: seen times in order (a customer identity resolution left without any record,
    # made of identifiers it detached from their records, has none)
    for customer, row in profiles.items():
        if row[10] is not None:
            assert row[10] <= row[11], customer
    result.customers_without_records = sum(1 for row in profiles.values() if row[9] == 0)

    # consent: the latest explicit signal wins, undated last, opt-out on a tie; a hard bounce blocks email
    signals: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for customer, channel, signal_type, granted, signal_at in _rows(con, (
            "select customer_id, channel, signal_type, granted, signal_at from profiles.customer_consent_history")):
        if signal_at is None or signal_at <= as_of:
            signals[(customer, channel)].append((signal_type, granted, signal_at))
    consent = _rows(con, "select customer_id, channel, granted, status from profiles.customer_consent")
    channels = _project_vars()["profiles"]["consent_channels"]
    assert len(consent) == len(active) * len(channels)
    statuses: Counter[str] = Counter()
    for customer, channel, granted, status in consent:
        mine = signals.get((customer, channel), [])
        explicit = [s for s in mine if s[0] in ("opt_in", "opt_out")]
        if any(s[0] == "hard_bounce" for s in mine):
            expected = (False, "blocked")
        elif explicit:
            dated = [s for s in explicit if s[2] is not None]
            pool = [s for s in dated if s[2] == max(d[2] for d in dated)] if dated else explicit
            answer = all(s[1] for s in pool)  # any opt-out among the latest wins
            expected = (answer, "granted" if answer else "denied")
        else:
            expected = (None, "unknown")
        assert (granted, status) == expected, (customer, channel, mine)
        statuses[status] += 1
    assert statuses["granted"] and statuses["denied"], statuses
    result.consent_rows = len(consent)
    return result


# --- tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profiled(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_warehouse(small_world, tmp_path_factory.mktemp("profiles"))


def test_profiles_match_ground_truth(profiled: Settings) -> None:
    import duckdb

    with duckdb.connect(str(profiled.warehouse_path), read_only=True) as con:
        result = check_profiles(con, profiled.world_dir / "ground_truth")
    print(f"\n{result}")


def test_as_of_var_makes_recency_traits_repeatable(profiled: Settings) -> None:
    import duckdb

    with duckdb.connect(str(profiled.warehouse_path), read_only=True) as con:
        as_of = con.execute("select distinct profile_as_of from profiles.customer_profiles").fetchall()
        wrong_days = con.execute(
            "select count(*) from profiles.customer_profiles where days_since_last_order"
            f" <> date_diff('day', last_order_at::timestamp, timestamptz '{AS_OF}'::timestamp)"
        ).fetchone()[0]
        segments = dict(con.execute(
            "select rfm_segment, count(*) from profiles.customer_profiles where orders_count > 0 group by 1").fetchall())
        no_orders = con.execute(
            "select count(*) from profiles.customer_profiles where orders_count = 0 and rfm_segment is not null").fetchone()[0]
    assert [str(row[0])[:10] for row in as_of] == ["2026-11-01"]
    assert wrong_days == 0
    assert None not in segments and len(segments) >= 4, segments
    assert no_orders == 0


def test_profile_columns_name_the_source_that_won(profiled: Settings) -> None:
    import duckdb

    with duckdb.connect(str(profiled.warehouse_path), read_only=True) as con:
        mismatched = con.execute(
            "select count(*) from profiles.customer_profiles"
            " where (email is null) <> (email_source is null) or (phone is null) <> (phone_source is null)"
        ).fetchone()[0]
        # the winning email is one the customer's own identifiers hold
        foreign = con.execute(
            "select count(*) from profiles.customer_profiles p where email is not null and not exists ("
            " select 1 from identity.customer_identifiers i where i.customer_id = p.customer_id"
            " and i.identifier_type = 'email' and i.identifier_value = p.email)"
        ).fetchone()[0]
    assert mismatched == 0
    assert foreign == 0


@pytest.mark.postgres
@pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL server binaries are not installed")
def test_profiles_build_on_postgres_and_equal_duckdb(profiled: Settings, small_world: Path, tmp_path: Path) -> None:
    """The same world through the same models on PostgreSQL: the same customers get the same profiles."""
    import duckdb
    import psycopg2

    columns = ("customer_id, first_name, last_name, email, phone, email_source, postcode, country_code,"
               " orders_count, revenue_usd, rfm_score, rfm_segment, channels_seen, emails_sent_90d,"
               " open_support_tickets, lifecycle_stage, consent_email_status, consent_ads_status")
    query = f"select {columns} from profiles.customer_profiles order by customer_id"
    with duckdb.connect(str(profiled.warehouse_path), read_only=True) as con:
        expected = [tuple(_plain(v) for v in row) for row in con.execute(query).fetchall()]
    with running_postgres() as server:
        settings = build_warehouse(small_world, tmp_path / "pg", target="postgres", postgres=server.settings())
        with psycopg2.connect(settings.postgres.url) as con:
            result = check_profiles(con, small_world / "ground_truth")
            actual = [tuple(_plain(v) for v in row) for row in _rows(con, query)]
    print(f"\npostgres: {result}")
    assert actual == expected


def _plain(value: Any) -> Any:
    return round(float(value), 2) if isinstance(value, Decimal) else value
