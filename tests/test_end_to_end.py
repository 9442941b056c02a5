"""One end-to-end materialization of every asset on a small world, checked against ground truth."""

from __future__ import annotations

import csv
import html
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import phonenumbers
import pytest

from orchestration.demo import RAW_TABLE_OF, STAGING_TRUTH, GroundTruth, run_demo
from orchestration.settings import Settings

# one worker runs the whole module, so the platform run of its fixture happens once
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]



@pytest.fixture(scope="module")
def local_systems(tmp_path_factory: pytest.TempPathFactory):
    """The settings and the local destinations (email platform, ad platform, webhook), open for the module."""
    from orchestration.local_destinations import local_destinations
    from orchestration.transform import dbt_project, ensure_manifest

    home = tmp_path_factory.mktemp("e2e")
    settings = Settings(home=home, world_dir=home / "world")
    with local_destinations(ensure_manifest(dbt_project(), settings), settings) as destinations:
        yield settings, destinations


@dataclass
class RunRecord:
    """What the demo run left beside the warehouse: its Dagster instance (every event of the run),
    when it started, and what Python logging emitted at INFO while it ran."""

    instance: dg.DagsterInstance
    started: float = 0.0
    python_log: list[str] = field(default_factory=list)


class _Collect(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(f"{record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - a record whose arguments do not format is kept as it came
            self.lines.append(f"{record.name}: {record.msg!r} {record.args!r}")


@pytest.fixture(scope="module")
def run_record() -> RunRecord:
    return RunRecord(instance=dg.DagsterInstance.ephemeral())


@pytest.fixture(scope="module")
def platform_run(local_systems, run_record: RunRecord) -> tuple[Settings, object]:
    settings, destinations = local_systems
    lines: list[str] = []
    root = logging.getLogger()
    handler, level = _Collect(run_record.python_log), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    run_record.started = time.time()
    try:
        outcome = run_demo(settings, people=1000, seed=7, echo=lines.append, instance=run_record.instance,
                           destinations=destinations)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return settings, (outcome, "\n".join(lines))


def copied_home(settings: Settings, home: Path, **changes: object) -> Settings:
    """Settings for a copy of the platform run's home (its world included) at `home`: every path
    under it, the landing folder and point-of-sale database too (`replace` alone keeps those,
    which `Settings` computed from the first world)."""
    import shutil
    from dataclasses import replace

    shutil.copytree(settings.home, home, ignore=shutil.ignore_patterns("dagster_home", "dbt_target*"))
    world = home / "world"
    return replace(settings, home=home, world_dir=world, warehouse_path=home / "cdp.duckdb",
                   landing_dir=world / "landing", pos_database_url=f"sqlite:///{world / 'systems' / 'pos.sqlite'}",
                   **changes)


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.warehouse_path), read_only=True)


def truth(settings: Settings) -> Counter:
    with (settings.world_dir / "ground_truth" / "records.csv").open(newline="") as handle:
        return Counter((row["source"], row["table"]) for row in csv.DictReader(handle))


def test_every_asset_and_check_succeeds(platform_run) -> None:
    from orchestration.definitions import build_definitions

    settings, (outcome, text) = platform_run
    assert outcome.success, text
    assert outcome.failed_checks == []
    assert "OK in" in text
    # every check ran: dbt tests of models built in different steps (a relationship from an
    # audience to identity_customers) are not left out
    checks = {f"{key.asset_key.to_user_string()}:{key.name}"
              for key in build_definitions(settings).resolve_asset_graph().asset_check_keys}
    assert checks - outcome.evaluated_checks == set()


def test_the_audit_log_holds_the_runs_governed_changes_and_nothing_personal(platform_run) -> None:
    """Runs before the tests below change the warehouse: what the one platform run left in the log."""
    settings, _ = platform_run
    with connect(settings) as con:
        log = con.execute("select action, subject_type, subject_id, detail from governance.audit_log"
                          " order by seq").fetchall()
        ledger = dict(con.execute("select batch_id, count(*) from activation.activation_ledger"
                                  " where status <> 'pending' group by batch_id").fetchall())
        consent_rows = con.execute("select count(*) from profiles.customer_consent where status <> 'unknown'")
        consented = consent_rows.fetchone()[0]
        identity_events = con.execute("select count(*) from identity.identity_merge_history").fetchone()[0]
        customer_ids = {row[0] for row in con.execute("select customer_id from identity.customer_id_lookup").fetchall()}
    by_action = Counter(action for action, *_ in log)
    details = [(action, kind, subject, json.loads(detail)) for action, kind, subject, detail in log]
    # every batch sent (audiences and the CRM push) once, with its record count
    batches = {d["batch_id"]: d for action, _, _, d in details if action == "activation.batch"}
    assert len(batches) == by_action["activation.batch"] and ledger
    assert {key: d["records"] for key, d in batches.items()} == ledger
    assert {d["destination"] for d in batches.values()} >= {"crm", "email_platform"}
    assert all(d["status"] == "sent" and d["succeeded"] + d["failed"] == d["records"] for d in batches.values())
    # each governed file seen for the first time
    configs = {subject: d for action, _, subject, d in details if action == "config.change"}
    assert set(configs) == {"destinations", "retention", "crm_sync", "dbt_project"}
    assert all(d["old_hash"] is None for d in configs.values())
    # the first consent audit: every customer and channel with a known status
    assert by_action["consent.change"] == consented > 0
    assert by_action["identity.merge"] + by_action["identity.split"] == identity_events
    # nothing personal: no value of a person, no raw customer id, anywhere in subjects or details
    with (settings.world_dir / "ground_truth" / "people.csv").open(newline="") as handle:
        personal = {row[column] for row in csv.DictReader(handle)
                    for column in ("first_name", "last_name", "email", "phone_e164", "street") if row[column]}
    values: set[str] = set()

    def collect(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                collect(key)
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)
        elif isinstance(value, str):
            values.add(value)

    for _, _, subject, detail in details:
        collect(detail)
        if subject:
            values.add(subject)
    assert values & personal == set()
    assert values & customer_ids == set()
    person_subjects = {subject for _, kind, subject, _ in details if kind == "customer"}
    assert person_subjects and all(len(s) == 64 for s in person_subjects)
# right after the run, before other tests add runs or files (the helpers are at the end)
def test_no_personal_data_in_events_logs_or_data_docs(platform_run, run_record: RunRecord) -> None:
    """No email, full name, street or phone of the world's people (nor a planted malformed one) in
    any event of the run, its Python logging and printout, Data Docs or a log file. Then a value
    planted in an event's metadata and in a log file is found: the scan can fail."""
    settings, (_, text) = platform_run
    personal = PersonalData.of_world(settings.world_dir)
    assert len(personal.national) > 900 and personal.bad_phones
    assert sum(map(len, personal.by_first_word.values())) > 3000
    texts = run_texts(run_record, settings, text)
    events = [where for where, _ in texts if where.startswith("run ")]
    assert len(events) > 500 and any("data_docs" in where for where, _ in texts)
    assert sum(len(content) for _, content in texts) > 1_000_000
    files = [where for where, _ in texts if where.startswith("/")]
    print(f"\nscanned {len(events):,} events, {sum('data_docs' in f for f in files):,} Data Docs files, "
          f"{sum(f.endswith('.log') for f in files):,} log files, {len(run_record.python_log):,} Python log lines; "
          f"{sum(len(content) for _, content in texts) / 1e6:.1f} M characters")
    found = personal_data_found(texts, personal)
    assert found == [], "personal data in:\n" + "\n".join(found[:50])

    # the scan finds what it looks for, in any shape: a planted email in metadata, a reformatted phone in a log line
    with (settings.world_dir / "ground_truth" / "people.csv").open(newline="", encoding="utf-8") as handle:
        person = next(row for row in csv.DictReader(handle) if row["phone_e164"].startswith("+1"))
    national = person["phone_e164"][2:]
    run_record.instance.report_runless_asset_event(dg.AssetObservation(
        asset_key=dg.AssetKey(["planted"]),
        metadata={"sample": dg.MetadataValue.md(f"| `{person['email'].upper()}` |")}))
    planted_log = settings.home / "planted.log"
    planted_log.write_text(f"calling ({national[:3]}) {national[3:6]}-{national[6:]} for {person['first_name']} "
                           f"{person['last_name']}\n", encoding="utf-8")
    try:
        found = personal_data_found(run_texts(run_record, settings, text), personal)
    finally:
        planted_log.unlink()
    assert any("ASSET_OBSERVATION" in line and person["email"].lower() in line for line in found), found
    assert any(line.startswith(str(planted_log)) and f"{person['first_name']} {person['last_name']}".lower() in line
               and f"({national[:3]})" in line for line in found), found


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


def test_masked_twins_hold_no_personal_value_of_their_model_and_hashed_ids_still_join(platform_run) -> None:
    """Every curated model has its twin in curated_masked (same columns and rows); no value of a
    hashed or emptied column of the model is anywhere in the twin; the hashes are the keyed
    SHA-256 of the model's values; the twins join on hashed ids as the models join on raw ids."""
    import hashlib

    from activations.governance import masking
    from orchestration.transform import dbt_project, ensure_manifest

    settings, _ = platform_run
    manifest = json.loads(Path(ensure_manifest(dbt_project(), settings)).read_text())
    config = masking.load_config()
    nodes = masking.curated_nodes(manifest)
    with connect(settings) as con:
        [(key,)] = con.execute("select key_value from governance.masking_key").fetchall()

        def keyed(value: object) -> str | None:
            return None if value is None else hashlib.sha256(f"{key}:{value}".encode()).hexdigest()

        catalog: dict[str, dict[str, list[str]]] = {}
        for schema, table, column in con.execute(
                "select table_schema, table_name, column_name from information_schema.columns"
                " where table_schema in ('identity', 'profiles', 'audiences', 'curated_masked')"
                " order by table_schema, table_name, ordinal_position").fetchall():
            catalog.setdefault(schema, {}).setdefault(table, []).append(column)
        # every real column of the built models is decided (the YAML may not document them all)
        curated_columns = {table: columns for schema in ("identity", "profiles", "audiences")
                           for table, columns in catalog[schema].items()}
        assert masking.mark_problems(manifest, config, curated_columns) == []
        assert sorted(catalog["curated_masked"]) == masking.curated_models()
        for model in masking.curated_models():
            relation = f"{nodes[model]['fqn'][1]}.{model}"
            assert catalog["curated_masked"][model] == curated_columns[model], model
            count = con.execute(f"select count(*) from {relation}").fetchone()[0]
            assert con.execute(f"select count(*) from curated_masked.{model}").fetchone()[0] == count, model
            marks = masking.column_marks(nodes[model])
            hidden = [column for column, kind in marks.items()
                      if kind is not False and config.policies[kind] in ("hash", "null")]
            if not hidden:
                continue
            personal = {value for column in hidden for (value,) in con.execute(
                f"select distinct cast({column} as varchar) from {relation} where {column} is not null").fetchall()}
            texts = " union ".join(f"select cast({column} as varchar) from curated_masked.{model}"
                                   for column in catalog["curated_masked"][model])
            leaked = {value for (value,) in con.execute(texts).fetchall()} & personal
            assert leaked == set(), (model, sorted(leaked)[:3])
        # the hashes are keyed SHA-256 of the curated values, column by column
        raw = con.execute("select customer_id, email, phone, first_name, date_of_birth, postcode"
                          " from profiles.customer_profiles").fetchall()
        masked = con.execute("select customer_id, email, phone, first_name, date_of_birth, postcode"
                             " from curated_masked.customer_profiles").fetchall()
        assert sorted(masked, key=str) == sorted(
            [(keyed(customer), keyed(email), keyed(phone), None,
              None if born is None else born.replace(month=1, day=1),
              None if postcode is None else "".join(ch for ch in postcode if ch.isalnum())[:3].upper())
             for customer, email, phone, _, born, postcode in raw], key=str)
        assert sum(email is not None for _, email, *_ in masked) > 0
        # joins on hashed ids give what the joins on raw ids give
        joins = {
            "profiles to consent": "select count(*) from {s}customer_profiles p join {s}customer_consent c"
                                   " on c.customer_id = p.customer_id and c.granted",
            "email to identifiers": "select count(distinct p.customer_id) from {s}customer_profiles p join"
                                    " {s}customer_identifiers i on i.customer_id = p.customer_id"
                                    " and i.identifier_value = p.email",
            "audience to records": "select count(*) from {s}rfm_champions a join {s}customer_records r"
                                   " on r.customer_id = a.customer_id",
            "distinct emails": "select count(distinct email) from {s}customer_profiles",
        }
        for name, sql in joins.items():
            plain = con.execute(sql.replace("{s}customer_profiles", "profiles.customer_profiles")
                                .replace("{s}customer_consent", "profiles.customer_consent")
                                .replace("{s}customer_identifiers", "identity.customer_identifiers")
                                .replace("{s}customer_records", "identity.customer_records")
                                .replace("{s}rfm_champions", "audiences.rfm_champions")).fetchone()[0]
            assert con.execute(sql.format(s="curated_masked.")).fetchone()[0] == plain > 0, name


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


def test_the_python_normalizers_give_what_staging_gave_for_every_phone_and_email(platform_run) -> None:
    """dlt_sources/identifiers.py (tombstones before raw, privacy requests) equals the staging macros on the world."""
    from dlt_sources.identifiers import normalize_email, normalize_phone

    settings, _ = platform_run
    pairs = {
        "customers": "select r.phone, r.country, s.phone, r.email, s.email from raw_commerce.customers r"
                     " join staging.stg_commerce__customers s on s.loyalty_id = r.loyalty_id",
        "lists": "select r.phone, r.country, s.phone, r.email, s.email from raw_lists.list_members r"
                 " join staging.stg_lists__list_members s on s.raw_row_id = r._dlt_id",
        "tickets": "select r.requester__phone, null, s.requester_phone, r.requester__email, s.requester_email"
                   " from raw_support.tickets r join staging.stg_support__tickets s on s.raw_row_id = r._dlt_id",
    }
    mismatches, phones = [], 0
    with connect(settings) as con:
        for name, sql in pairs.items():
            for raw_phone, country, staged_phone, raw_email, staged_email in con.execute(sql).fetchall():
                phones += raw_phone is not None
                python_phone = None if raw_phone is None else normalize_phone(
                    raw_phone, country, default_region=settings.default_phone_region)
                if (python_phone, normalize_email(raw_email)) != (staged_phone, staged_email):
                    mismatches.append((name, raw_phone, country, staged_phone, python_phone))
    assert phones > 50 and mismatches == []


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


# -- identity resolution ----------------------------------------------------------------------


def _customer_of_records(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    return dict(con.execute("select record_ref, customer_id from identity.customer_records").fetchall())


def test_identity_clusters_match_the_ground_truth(platform_run) -> None:
    """Pairwise precision >= 0.995 and recall >= 0.97, typos and shared devices included.

    Measured on the truth the records can show (dlt_sources/sample_world/evaluation.py): an
    event carrying only device ids is scored as its device's known user, or as the device's
    own when the device never identifies anyone or identifies several people. The raw figure
    is printed too: its precision is lower only by a housemate's logged-out events on an
    owner's device (0.990 on the default world), which carry nothing of the housemate's.
    """
    from dlt_sources.sample_world.evaluation import (
        as_the_records_show, bad_record_keys, pairwise_score, read_truth)

    settings, _ = platform_run
    ground_truth = settings.world_dir / "ground_truth"
    truth = read_truth(ground_truth, bad_record_keys(ground_truth))
    with connect(settings) as con:
        predicted = _customer_of_records(con)
        identifiers = con.execute(
            "select record_ref, identifier_type, identifier_key from identity.identity_identifiers where not is_blocked"
        ).fetchall()
    assert set(truth) <= set(predicted), "every good source record appears in customer_records"
    raw = pairwise_score(truth, predicted)
    score = pairwise_score(as_the_records_show(truth, identifiers), predicted)
    print(f"\nidentity vs ground truth: {score}\nraw (all true pairs): {raw}")
    assert score.precision >= 0.995, score
    assert score.recall >= 0.97, score
    # the raw figure falls short only on the planted shared devices: off them it holds as is
    with (ground_truth / "shared_devices.csv").open(newline="") as handle:
        shared = {value.lower() for row in csv.DictReader(handle) for value in (row["anonymous_id"], row["device_id"])
                  if value}
    on_shared = {ref for ref, _, key in identifiers if key.split(":", 1)[1] in shared}
    off_shared = pairwise_score({ref: person for ref, person in truth.items() if ref not in on_shared}, predicted)
    assert off_shared.precision >= 0.995, off_shared


def test_shared_devices_stop_linking_and_crm_duplicates_stay_apart(platform_run) -> None:
    settings, _ = platform_run
    with (settings.world_dir / "ground_truth" / "shared_devices.csv").open(newline="") as handle:
        shared = {row["anonymous_id"] for row in csv.DictReader(handle)}
    assert shared, "the world plants shared devices"
    with connect(settings) as con:
        flagged = {key.split(":", 1)[1] for (key,) in con.execute(
            "select identifier_key from identity.int_identity__shared_identifiers where identifier_type = 'anonymous_id'"
        ).fetchall()}
        two_users = {key.split(":", 1)[1] for (key,) in con.execute(
            "select a.identifier_key from identity.identity_identifiers a join identity.identity_identifiers u"
            " on a.record_ref = u.record_ref and u.identifier_type = 'user_id'"
            " where a.identifier_type = 'anonymous_id' group by a.identifier_key"
            " having count(distinct u.identifier_key) > 1").fetchall()}
        rules = dict(con.execute("select drop_rule, count(*) from identity.identity_dropped_links group by 1").fetchall())
        over = con.execute(
            "select count(*) from (select customer_id from identity.customer_identifiers"
            " where identifier_type in ('user_id', 'crm_contact_id') group by customer_id, identifier_type"
            " having count(*) > 1) as broken"
        ).fetchone()[0]
    # a device two registered people log in on stops linking; it is one of the planted shared
    # devices (a housemate who never logs in leaves no trace to detect)
    assert two_users and two_users == flagged and flagged <= shared
    assert rules.get("shared_identifier", 0) > 0 and rules.get("limit:crm_contact_id", 0) > 0
    assert over == 0


def _dbt_identity(settings: Settings, warehouse: Path, target: Path, *args: str,
                  select: str = "path:models/identity path:seeds/identity") -> None:
    import os
    import subprocess

    from orchestration.settings import DBT_PROJECT_DIR

    env = {**os.environ, **settings.dbt_env(), "CDP_WAREHOUSE_PATH": str(warehouse)}
    result = subprocess.run(
        ["dbt", "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--select", select, *args],
        env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_customer_ids_survive_a_full_rebuild_and_a_merge_is_reversible(platform_run, tmp_path: Path) -> None:
    import shutil
    from functools import partial

    from expectations.warehouse import connect as warehouse_connect
    from transform.matching.review import ensure_tables, pair_id

    connect_warehouse = partial(warehouse_connect, "duckdb")

    settings, _ = platform_run
    warehouse = tmp_path / "copy.duckdb"
    shutil.copy(settings.warehouse_path, warehouse)
    target = tmp_path / "dbt_target"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        before = _customer_of_records(con)

    # a full rebuild (every model, --full-refresh) issues nothing new and changes no id
    _dbt_identity(settings, warehouse, target, "--full-refresh")
    with duckdb.connect(str(warehouse)) as con:
        assert _customer_of_records(con) == before
        assert con.execute("select count(*) from identity.identity_merge_history").fetchone()[0] == 0
        # a CRM contact's customer and a customer (no one-per-customer id, so
        # merging them breaks no limit): a reviewer accepts them as one person
        limited = ("select customer_id from identity.customer_identifiers"
                   " where identifier_type in ('user_id', 'crm_contact_id', 'loyalty_id')")
        left, left_customer = con.execute(
            "select record_ref, customer_id from identity.customer_records where source_name = 'crm'"
            " and customer_id is not null order by record_ref limit 1").fetchone()
        right, right_customer = con.execute(
            "select r.record_ref, r.customer_id from identity.customer_records r"
            " join identity.int_identity__record_attributes a on a.record_ref = r.record_ref"
            f" where r.customer_id is not null and r.customer_id not in ({limited}) order by r.record_ref limit 1"
        ).fetchone()
    with connect_warehouse(duckdb_path=warehouse) as wh:
        ensure_tables(wh)
        wh.execute(
            "insert into identity.identity_review_queue (pair_id, candidate_id_l, candidate_id_r, match_probability,"
            " status, first_queued_at, last_seen_at, decided_at, decided_by, decision_note)"
            " values (?, ?, ?, 0.9, 'accepted', current_timestamp, current_timestamp, current_timestamp, 'test',"
            " 'same person')",
            [pair_id(left, right), *sorted([left, right])],
        )
    assert left_customer != right_customer

    _dbt_identity(settings, warehouse, target)
    with duckdb.connect(str(warehouse)) as con:
        merged = _customer_of_records(con)
        survivor = merged[left]
        assert merged[right] == survivor and survivor in (left_customer, right_customer)
        retired = right_customer if survivor == left_customer else left_customer
        assert {r for r, c in merged.items() if c == survivor} == {
            r for r, c in before.items() if c in (left_customer, right_customer)}
        events = con.execute("select event_type, old_customer_id, new_customer_id, evidence"
                             " from identity.identity_merge_history").fetchall()
        assert [(e[0], e[1], e[2]) for e in events] == [("merge", retired, survivor)]
        assert "review_accepted" in events[0][3], "the merge names the link that joined them"
        assert con.execute("select count(*) from identity.identity_links"
                           " where link_type = 'review_accepted' and is_used").fetchone()[0] == 1
        assert con.execute("select current_customer_id from identity.customer_id_lookup where customer_id = ?",
                           [retired]).fetchone()[0] == survivor
        # the reviewer changes their mind: the pair becomes a do-not-link
        con.execute("update identity.identity_review_queue set status = 'rejected', decision_note = 'different people'"
                    " where pair_id = ?", [pair_id(left, right)])

    _dbt_identity(settings, warehouse, target)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert _customer_of_records(con) == before, "the split gives both customers their old ids back"
        events = con.execute("select event_type, old_customer_id, new_customer_id, evidence"
                             " from identity.identity_merge_history order by occurred_at, event_type").fetchall()
        assert [(e[0], e[1], e[2]) for e in events][-1] == ("split", survivor, retired)
        assert "do_not_link" in events[-1][3], "the split names the refused link"
        assert con.execute("select count(*) from identity.identity_dropped_links"
                           " where link_type = 'review_rejected' and drop_rule = 'do_not_link'").fetchone()[0] == 1
        statuses = dict(con.execute("select customer_id, status from identity.identity_customers"
                                    " where customer_id in (?, ?)", [left_customer, right_customer]).fetchall())
        assert statuses == {left_customer: "active", right_customer: "active"}


def test_staged_lists_the_columns_of_the_built_staging_models(platform_run) -> None:
    """macros/staged.sql stands in for an unbuilt staging model with these columns: they must not drift."""
    import re

    from orchestration.settings import DBT_PROJECT_DIR

    text = (DBT_PROJECT_DIR / "macros" / "staged.sql").read_text()
    listed = {model: re.findall(r"'(\w+)': '(\w+)'", body)
              for model, body in re.findall(r"'(stg_\w+)': \{(.*?)\}", text, re.S)}
    logical = {"VARCHAR": "text", "TIMESTAMP WITH TIME ZONE": "timestamp", "BIGINT": "bigint", "BOOLEAN": "boolean",
               "DATE": "date", "DECIMAL(18,4)": "numeric", "DOUBLE": "double"}
    settings, _ = platform_run
    assert len(listed) == 9
    with connect(settings) as con:
        for model, columns in listed.items():
            built = [(name, logical.get(data_type, data_type)) for name, data_type in con.execute(
                "select column_name, data_type from information_schema.columns where table_schema = 'staging'"
                " and table_name = ? order by ordinal_position", [model]).fetchall()]
            assert columns == built, model


def test_identity_and_profiles_resolve_the_sources_that_are_built(platform_run, tmp_path: Path) -> None:
    """A deployment without a help desk: no support staging model. Identity and profiles still build."""
    import shutil

    settings, _ = platform_run
    warehouse = tmp_path / "copy.duckdb"
    shutil.copy(settings.warehouse_path, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        kind = con.execute("select table_type from information_schema.tables where table_schema = 'staging'"
                           " and table_name = 'stg_support__tickets'").fetchone()[0]
        con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} staging.stg_support__tickets")
        before = dict(con.execute("select source_name, count(*) from identity.customer_records group by 1").fetchall())
    _dbt_identity(settings, warehouse, tmp_path / "dbt_target",
                  select="path:models/identity path:seeds/identity path:models/profiles")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = dict(con.execute("select source_name, count(*) from identity.customer_records group by 1").fetchall())
        open_tickets = con.execute("select sum(open_support_tickets) from profiles.customer_traits").fetchone()[0]
    assert before.pop("support") > 0 and after == before
    assert open_tickets == 0


def test_a_failing_blocking_health_check_stops_profiles(platform_run, tmp_path: Path) -> None:
    """The graph looks broken (one customer holding every event): identity_health's blocking
    check fails and Dagster skips the profiles models in the same run, so nothing downstream
    is built from the broken graph."""
    import shutil
    from dataclasses import replace

    from orchestration.definitions import build_definitions
    from orchestration.demo import QUIET
    from orchestration.identity import HEALTH

    settings, _ = platform_run
    broken = replace(settings, home=tmp_path, warehouse_path=tmp_path / "cdp.duckdb")
    shutil.copy(settings.warehouse_path, broken.warehouse_path)
    with duckdb.connect(str(broken.warehouse_path)) as con:
        con.execute("drop schema profiles cascade")
        con.execute("update identity.customer_records set customer_id = (select min(customer_id)"
                    " from identity.identity_customers where status = 'active') where source_name = 'events'")
    defs = build_definitions(broken)
    profile_keys = [key for key in defs.resolve_all_asset_keys() if key.path[0] == "profiles"]
    assert len(profile_keys) >= 3
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, run_config=QUIET,
                                    asset_selection=[HEALTH, *profile_keys])
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["largest_component_within_bound"] is False
    materialized = {event.asset_key for event in result.get_asset_materialization_events()}
    assert HEALTH in materialized and not materialized & set(profile_keys)
    with duckdb.connect(str(broken.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from information_schema.schemata where schema_name = 'profiles'"
                           ).fetchone()[0] == 0


def test_audiences_reach_their_destinations_with_consent_only(platform_run, local_systems) -> None:
    """What each destination holds is exactly the audience's permitted members, less failures."""
    import json

    from orchestration.demo import activation_config

    settings, (_, text) = platform_run
    _, destinations = local_systems
    config = activation_config(settings)
    assert "audience -> destination" in text
    reached = 0
    with connect(settings) as con:
        for audience in config.audiences.values():
            for target in audience.targets:
                channel = config.destinations[target.destination].channel
                kind = config.destinations[target.destination].type
                state = dict(con.execute(
                    "select customer_id, sent_fields from activation.destination_state where destination = ?"
                    " and audience = ?", [target.destination, audience.name]).fetchall())
                outranked = " ".join(f"and a.customer_id not in (select customer_id from {rival.relation})"
                                     for rival in config.outranking(audience.name, target))
                permitted = {row[0] for row in con.execute(
                    f"select a.customer_id from {audience.relation} a join profiles.customer_consent c"
                    f" on c.customer_id = a.customer_id and c.channel = ? and c.granted"
                    f" join identity.identity_customers i on i.customer_id = a.customer_id and i.status = 'active'"
                    f" where true {outranked}", [channel]).fetchall()}
                failed = {row[0] for row in con.execute(
                    "select distinct customer_id from activation.activation_ledger where destination = ?"
                    " and audience = ? and status in ('failed', 'dead')", [target.destination, audience.name]
                ).fetchall()}
                assert set(state) <= permitted, (audience.name, target.destination)
                assert permitted - set(state) == failed & permitted, (audience.name, target.destination)
                reached += len(state)
                if kind == "esp":
                    held = set(destinations.esp.members(audience.name))
                    assert held == {json.loads(fields)["email"].strip().lower() for fields in state.values()}
                elif kind == "ads":
                    rows = destinations.ads.audience_members(audience.name)
                    assert len(rows) == len(state)
                    assert all(len(value) in (0, 64) and "@" not in value for row in rows for value in row)
    assert reached > 0


def test_a_second_sync_sends_nothing_and_revoked_consent_removes_the_person(platform_run, local_systems,
                                                                          tmp_path: Path) -> None:
    import json
    import shutil
    from dataclasses import replace

    from orchestration.definitions import build_definitions
    from orchestration.demo import QUIET

    settings, _ = platform_run
    _, destinations = local_systems
    copy = replace(settings, home=tmp_path, warehouse_path=tmp_path / "cdp.duckdb")
    shutil.copy(settings.warehouse_path, copy.warehouse_path)
    defs = build_definitions(copy)
    # the audiences' destinations (the CRM push has its own loop test below)
    activation = [key for key in defs.resolve_all_asset_keys() if key.path[0] == "activation" and key.path[1] != "crm"]
    job = defs.resolve_implicit_global_asset_job_def()
    servers = (destinations.esp, destinations.ads, destinations.webhook)
    before = [len(server.requests) for server in servers]
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, run_config=QUIET,
                                    asset_selection=activation)
    assert result.success
    assert [len(server.requests) for server in servers] == before

    with duckdb.connect(str(copy.warehouse_path)) as con:
        customer_id, fields = con.execute(
            "select customer_id, sent_fields from activation.destination_state where destination = 'email_platform'"
            " and audience = 'rfm_champions' order by customer_id limit 1").fetchone()
        # what the consent model says after the person unsubscribes
        con.execute("update profiles.customer_consent set granted = false, status = 'denied'"
                    " where customer_id = ? and channel = 'email'", [customer_id])
    email = json.loads(fields)["email"].strip().lower()
    assert email in destinations.esp.members("rfm_champions")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, run_config=QUIET,
                                    asset_selection=[dg.AssetKey(["activation", "rfm_champions", "email_platform"])])
    assert result.success
    assert email not in destinations.esp.members("rfm_champions")
    with duckdb.connect(str(copy.warehouse_path), read_only=True) as con:
        assert con.execute("select operation, reason from activation.activation_ledger where customer_id = ?"
                           " and audience = 'rfm_champions' and destination = 'email_platform' and status = 'sent'"
                           " order by recorded_at desc limit 1", [customer_id]).fetchone() == ("remove", "no_consent")


def test_the_plan_command_shows_an_unchanged_audience_as_nothing_to_do(platform_run, monkeypatch) -> None:
    from click.testing import CliRunner

    from orchestration.cli import main

    settings, _ = platform_run
    monkeypatch.setenv("CDP_HOME", str(settings.home))
    monkeypatch.setenv("CDP_WAREHOUSE_PATH", str(settings.warehouse_path))
    result = CliRunner().invoke(main, ["activation", "plan", "--audience", "rfm_champions"])
    assert result.exit_code == 0, result.output
    assert "rfm_champions -> email_platform (mirror): 0 to add, 0 to update, 0 to remove;" in result.output
    assert "rfm_champions -> ad_platform (mirror): 0 to add" in result.output


def test_crm_duplicates_are_suggested_for_merging_exactly_as_the_world_has_them(platform_run) -> None:
    settings, _ = platform_run
    person = {row["record_key"]: row["person_id"] for row in
              csv.DictReader((settings.world_dir / "ground_truth" / "records.csv").open(newline=""))
              if (row["source"], row["table"]) == ("crm", "contacts")}
    contacts_per_person = Counter(person.values())
    with connect(settings) as con:
        pairs = con.execute("select merge_contact_id, keep_contact_id, evidence from crm_sync.crm_merge_suggestions"
                            ).fetchall()
    assert pairs and all(person[merge] == person[keep] for merge, keep, _ in pairs)
    assert len(pairs) == sum(count - 1 for count in contacts_per_person.values() if count > 1)
    assert {evidence.split(":")[0] for _, _, evidence in pairs} <= {"deterministic", "probabilistic"}


def test_the_crm_push_writes_platform_fields_and_creates_consented_contacts_only(platform_run) -> None:
    from dlt_sources.sample_world.crm_server import CrmStore

    settings, (_, text) = platform_run
    assert "CRM sync (two-way):" in text
    store = CrmStore(settings.crm_db_path)
    with connect(settings) as con:
        written = con.execute(
            "select customer_id, operation, acknowledgement from activation.activation_ledger"
            " where destination = 'crm' and status = 'sent'").fetchall()
        consented = {c for (c,) in con.execute("select customer_id from profiles.customer_profiles"
                                                " where consent_email and email is not null").fetchall()}
        with_contact = {c for (c,) in con.execute(
            "select distinct customer_id from identity.customer_records where source_name = 'crm'"
            " and customer_id is not null").fetchall()}
    assert written
    created = [(c, json.loads(ack)["contact_id"]) for c, _, ack in written if json.loads(ack)["created"]]
    assert created and {c for c, _ in created} <= consented - with_contact
    for customer_id, contact_id in created[:25] + [(c, json.loads(a)["contact_id"]) for c, _, a in written[:25]]:
        assert store.get("contacts", contact_id, properties=["cdp_customer_id"])["properties"]["cdp_customer_id"] \
            == customer_id


def test_the_crm_loop_through_dbt_writes_nothing_when_nothing_changed_and_follows_hand_edits(
        platform_run, tmp_path: Path) -> None:
    """The demo's run was the loop's first cycle (pull, reconcile, identity, profiles, push). A
    second `crm_loop` run through dbt, with no outside change, writes nothing to the CRM: the
    pull brings the platform's own writes back and they are recognized. Then sales edits a
    platform-owned field and a CRM-owned one by hand: the third run writes exactly the one
    contact back, leaves the CRM-owned field alone and reports the conflict."""
    import os
    from dataclasses import replace

    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore
    from orchestration.definitions import build_definitions
    from orchestration.demo import QUIET

    settings, _ = platform_run
    # as of the world's end, as the demo computed them
    end = json.loads((settings.world_dir / "ground_truth" / "summary.json").read_text())["end"]
    copy = copied_home(settings, tmp_path / "home", profiles_as_of=end)
    with CrmServer(copy.crm_db_path, token=os.environ["CDP_CRM_TOKEN"], port=0) as crm:
        defs = build_definitions(replace(copy, crm_base_url=crm.base_url))
        job = defs.resolve_job_def("crm_loop")

        def cycle() -> list[str]:
            before = len(crm.requests)
            result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
                                            run_config=QUIET)
            assert result.success
            return [r.path for r in crm.requests[before:] if r.method in ("POST", "PATCH", "DELETE")
                    and "/batch/" in r.path and not r.path.endswith("/batch/read")]

        assert cycle() == []
        with connect(copy) as con:
            contact_id, customer_id, segment = con.execute(
                "select c.contact_id, r.customer_id, p.rfm_segment from staging.stg_crm__contacts c"
                " join identity.customer_records r on r.source_name = 'crm' and r.record_key = c.contact_id"
                " join profiles.customer_profiles p using (customer_id)"
                " where p.rfm_segment is not null and not c.is_platform_created order by c.contact_id limit 1"
            ).fetchone()
        store = CrmStore(copy.crm_db_path)
        store.update("contacts", contact_id, {"cdp_rfm_segment": "vip (sales)", "lifecyclestage": "customer"})
        writes = cycle()
        assert writes == ["/crm/v3/objects/contacts/batch/update"]
        contact = store.get("contacts", contact_id, properties=["cdp_rfm_segment", "lifecyclestage",
                                                                "cdp_customer_id"])["properties"]
        assert (contact["cdp_rfm_segment"], contact["lifecyclestage"], contact["cdp_customer_id"]) == \
            (segment, "customer", customer_id)
        with connect(copy) as con:
            conflicts = con.execute("select contact_id, field, crm_value, resolution from crm_sync.field_conflicts"
                                    ).fetchall()
            sent = [operation for (operation,) in con.execute(
                "select operation from activation.activation_ledger where destination = 'crm' and status = 'sent'"
                " and customer_id = ? order by recorded_at", [customer_id]).fetchall()]
        assert conflicts == [(contact_id, "cdp_rfm_segment", "vip (sales)", "overwrite")]
        assert sent == ["add", "update"]  # the demo's first push and this write-back


def test_the_access_export_holds_a_persons_data_and_no_one_elses(platform_run, tmp_path: Path) -> None:
    """Someone with orders and sent ledger rows, found by their email: the document holds their email,
    every order resolved to them (with its lines) and every ledger row, and no other customer's data."""
    import re
    import shutil
    from dataclasses import replace

    from click.testing import CliRunner

    from activations.governance import access, audit
    from activations.governance.people import resolve
    from expectations.warehouse import DuckDBWarehouse
    from orchestration.cli import main

    settings, _ = platform_run
    with connect(settings) as con:
        customer_id, email = con.execute(
            "select p.customer_id, p.email from profiles.customer_profiles p where p.orders_count >= 2"
            " and p.email is not null and exists (select 1 from activation.activation_ledger l"
            " where l.customer_id = p.customer_id and l.destination <> 'crm' and l.status = 'sent')"
            " order by p.customer_id limit 1").fetchone()
        orders = {row[0] for row in con.execute(
            "select record_key from identity.customer_records where customer_id = ? and source_name = 'commerce'"
            " and table_name = 'orders'", [customer_id]).fetchall()}
        lines = {row[0] for row in con.execute(
            "select order_line_id from staging.stg_commerce__order_lines where order_id in"
            " (select record_key from identity.customer_records where customer_id = ? and source_name = 'commerce'"
            " and table_name = 'orders')", [customer_id]).fetchall()}
        ledger = con.execute("select count(*) from activation.activation_ledger where customer_id = ?",
                             [customer_id]).fetchone()[0]
        others = {row[0] for row in con.execute(
            "select identifier_value from identity.customer_identifiers where identifier_type = 'email'"
            " and customer_id <> ? except select identifier_value from identity.customer_identifiers"
            " where customer_id = ?", [customer_id, customer_id]).fetchall()}
    assert len(orders) >= 2 and lines and ledger

    with DuckDBWarehouse(settings.warehouse_path, read_only=True) as warehouse:
        person = resolve(warehouse, email.upper())
        document = access.export(warehouse, person, identifier_type="email")
    text = access.to_json(document)
    assert person.customer_id == customer_id and document["profile"]["email"] == email
    assert email in {i["identifier_value"] for i in document["identifiers"]}
    exported = document["records"]["commerce/orders"]
    assert {o["order_id"] for o in exported} == orders
    assert {line["order_line_id"] for o in exported for line in o["lines"]} == lines
    assert len(document["activation"]["ledger"]) == ledger
    assert any(r["status"] == "sent" and r["destination"] != "crm" for r in document["activation"]["ledger"])
    assert set(re.findall(r"cus_[0-9a-f]{16}", text)) <= set(person.customer_ids)
    # an email in the document is theirs, or one their own records carry (a shared address identity left unlinked)
    own_records = json.dumps(document["records"]).lower()
    foreign = {found.lower() for found in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text)} & others
    assert all(found in own_records for found in foreign), foreign

    # the same through the command, on a copy (it writes the audit log)
    copy = replace(settings, home=tmp_path, warehouse_path=tmp_path / "cdp.duckdb")
    shutil.copy(settings.warehouse_path, copy.warehouse_path)
    out = tmp_path / "export.json"
    result = CliRunner().invoke(main, ["privacy", "export", f"email:{email}", "--out", str(out)],
                                env={"CDP_HOME": str(tmp_path), "CDP_WAREHOUSE_PATH": str(copy.warehouse_path)})
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert access.counts(written) == access.counts(document)
    with DuckDBWarehouse(copy.warehouse_path, read_only=True) as warehouse:
        events = audit.read(warehouse, action="privacy.access_export")
    assert list(events["subject_id"]) == [audit.hash_identifier(customer_id)]
    assert email not in events["detail"].iloc[0]


def _forgettable_person(con: duckdb.DuckDBPyConnection) -> str:
    """A customer the email platform, the CRM, commerce and the web events all hold, whose email
    is part of no one else's (so a substring search for it finds only them)."""
    rows = con.execute("""
        select s.customer_id, e.identifier_value
        from activation.destination_state s
        join identity.customer_identifiers e on e.customer_id = s.customer_id and e.identifier_type = 'email'
        join identity.customer_identifiers c on c.customer_id = s.customer_id and c.identifier_type = 'crm_contact_id'
        join identity.customer_records o on o.customer_id = s.customer_id and o.source_name = 'commerce'
            and o.table_name = 'orders'
        join identity.customer_records v on v.customer_id = s.customer_id and v.source_name = 'events'
        where s.destination = 'email_platform'
        group by all order by 1""").fetchall()
    emails = [r[0] for r in con.execute("select distinct identifier_value from identity.customer_identifiers"
                                        " where identifier_type = 'email'").fetchall()]
    for customer_id, email in rows:
        if sum(1 for other in emails if email in other) == 1:
            return customer_id
    raise AssertionError("the world has no customer held by the email platform, the CRM, commerce and events")


def _files_holding(folder: Path, needles: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        hits = [n for n in needles if n.lower().encode() in data]
        if hits:
            found[str(path.relative_to(folder))] = hits
    return found


def test_a_deleted_person_leaves_no_trace_even_after_the_sources_are_loaded_again(
        platform_run, local_systems, tmp_path: Path) -> None:
    """The right to be forgotten, proved: a person held by the email platform, the CRM, commerce
    and the web events is deleted by email. Afterwards no table, landing file, dlt archive file,
    export file, CRM record or destination holds any identifier of theirs; then the original
    landing files are put back and every source is loaded again, and still nothing does: the
    tombstones dropped their rows before raw."""
    import os
    import shutil
    from dataclasses import replace
    from datetime import datetime, timezone

    from activations.governance.deletion import request_deletion
    from activations.governance.people import resolve
    from activations.governance.sweep import find_traces
    from dlt_sources.sample_world.crm_server import CrmServer
    from expectations.warehouse import connect as open_warehouse
    from orchestration.definitions import build_definitions
    from orchestration.demo import QUIET
    from activations.crm.config import load_crm_sync_config
    from orchestration.activation import load_activation_config
    from activations.destinations.ads import normalize_email, sha256_hex
    from orchestration.local_destinations import WEBHOOK_NAME, _list_id
    from orchestration.privacy import executors, run_requests
    from orchestration.resources import CrmApiResource
    from orchestration.transform import dbt_project, ensure_manifest

    settings, _ = platform_run
    _, destinations = local_systems
    home = tmp_path / "home"
    copy = copied_home(settings, home)
    original_landing = tmp_path / "landing_as_delivered"
    shutil.copytree(copy.landing_dir, original_landing)

    con = connect(copy)
    customer_id = _forgettable_person(con)
    con.close()
    with open_warehouse("duckdb", duckdb_path=copy.warehouse_path) as warehouse:
        person = resolve(warehouse, f"customer_id:{customer_id}")
        email = person.identifier_values("email")[0]
        person = resolve(warehouse, f"email:{email.upper()}")  # any identifier, as written by anyone
        assert person.customer_id == customer_id
        needles = [v for v in person.identifier_values() if not v.isdigit()] + list(person.customer_ids)
        assert find_traces(warehouse, needles), "the search must find the person before the deletion"
        plan = request_deletion(warehouse, person, identifier_type="email", actor="test",
                                now=datetime.now(timezone.utc))
    assert any(destination == "email_platform" for destination, _ in plan.destinations)
    crm_contacts = list(plan.crm_contacts)
    assert crm_contacts

    manifest = ensure_manifest(dbt_project(), copy)
    activation = load_activation_config(manifest, copy)

    emails = set(person.identifier_values("email"))

    def holder(name: str, audience: str):  # noqa: ANN202 - whether the stand-in of `name` holds them now
        kind = activation.destinations[name].type if name in activation.destinations else "crm"
        if kind == "esp":
            return lambda: bool(emails & set(destinations.esp.members(_list_id(activation, audience, name))))
        if kind == "ads":
            hashes = {sha256_hex(normalize_email(e, strip_gmail_dots=strip)) for e in emails for strip in (False, True)}
            return lambda: any(hashes & set(row) for row in
                               destinations.ads.audience_members(_list_id(activation, audience, name)))
        if kind == "webhook":
            def delivered() -> bool:  # the last record about them is not an erasure
                records = [r for d in destinations.webhook.deliveries(WEBHOOK_NAME) if d.body["audience"] == audience
                           for r in d.body["records"] if r["customer_id"] in person.customer_ids]
                return bool(records) and records[-1].get("reason") != "erased"
            return delivered
        return lambda: False  # the CRM (checked below) and export files (searched below)

    held_before = {pair: holder(*pair) for pair in plan.destinations}
    assert any(held() for held in held_before.values()), "the destinations must hold them before"
    assert all(held() for (name, _), held in held_before.items()
               if name in activation.destinations and activation.destinations[name].type in ("esp", "ads")), \
        "as the destination state says"

    with CrmServer(copy.crm_db_path, token=os.environ["CDP_CRM_TOKEN"], port=0) as crm:
        crm_api = CrmApiResource(base_url=crm.base_url, access_token=os.environ["CDP_CRM_TOKEN"])
        run = executors(activation=activation, crm_config=load_crm_sync_config(),
                        crm_api=crm_api, landing_dir=copy.landing_dir, pipelines_dir=copy.pipelines_dir,
                        default_region=copy.default_phone_region)
        result = run_requests(lambda: open_warehouse("duckdb", duckdb_path=copy.warehouse_path), run,
                              target="duckdb", warehouse_path=copy.warehouse_path, actor="test")
        assert [o for o in result.outcomes if o.status != "done"] == []
        assert result.still_open == 0 and result.compacted == [plan.request_id]
        for contact in crm_contacts:  # gone for good from the CRM, not archived
            assert crm.store._row("contacts", contact) is None and crm.store._row("contacts", contact,
                                                                                   archived=True) is None

    # every destination that held them forgot them
    for list_members in (destinations.esp.members(list_id, include_archived=True)
                         for list_id in destinations.esp._lists):
        assert not emails & set(list_members)
    for (name, audience), held in held_before.items():
        assert not held(), f"{name}/{audience} still holds them"

    def no_trace_anywhere(when: str, folders: tuple[Path, ...]) -> None:
        with open_warehouse("duckdb", duckdb_path=copy.warehouse_path) as warehouse:
            assert find_traces(warehouse, needles) == {}, f"{when}: tables still hold them"
        text_needles = [n for n in needles if not n.startswith("+")]
        for folder in folders:
            if folder.exists():
                assert _files_holding(folder, text_needles) == {}, f"{when}: files in {folder} still hold them"
        assert email.encode() not in copy.warehouse_path.read_bytes(), f"{when}: the DuckDB file still holds the email"
        assert email.encode() not in copy.crm_db_path.read_bytes(), f"{when}: the CRM's file still holds the email"

    no_trace_anywhere("after the deletion", (copy.landing_dir, copy.pipelines_dir, home / "exports"))
    assert _files_holding(original_landing, [email]), "the delivered files did hold them"

    # the sources deliver everything again, the person's rows included
    shutil.rmtree(copy.landing_dir)
    shutil.copytree(original_landing, copy.landing_dir)
    later = datetime.now(timezone.utc).timestamp() + 60
    for path in copy.landing_dir.rglob("*"):
        os.utime(path, (later, later))
    with CrmServer(copy.crm_db_path, token=os.environ["CDP_CRM_TOKEN"], port=0) as crm:
        defs = build_definitions(replace(copy, crm_base_url=crm.base_url))
        graph = defs.resolve_asset_graph()
        loads = [key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "ingest"]
        reload = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, run_config=QUIET, asset_selection=loads)
        assert reload.success
        dropped = sum(int(m.value) for e in reload.get_asset_materialization_events()
                      for k, m in e.materialization.metadata.items() if k == "dropped_by_tombstones")
        assert dropped > 0, "the reload must have met the person's rows and dropped them"
    # (the landing folder holds the files as delivered again, the person's lines included)
    no_trace_anywhere("after loading the sources again", (copy.pipelines_dir, home / "exports"))
# -- nothing personal in logs, metadata or Data Docs ----------------------------------------------

PHONE_RUN = re.compile(r"\+?\(?\d[\d ().\-]{5,}\d")


@dataclass
class PersonalData:
    """The sample world's personal values: every person's email, full name, street and phone, and
    the planted malformed emails and phones (typos of them). `find` tells which occur in a text:
    words and emails case-insensitively, phones by their digits in any format (`+1 (415) 555-0123`
    holds 4155550123)."""

    by_first_word: dict[str, set[str]] = field(default_factory=dict)  # lower-cased values by their first word
    national: set[str] = field(default_factory=set)  # phone digits without the country code
    bad_phones: set[str] = field(default_factory=set)  # digits of planted malformed phones (7 or more)

    def add(self, value: str) -> None:
        value = value.strip().lower()
        first = re.match(r"\w+", value)
        if first and len(value) >= 6:
            self.by_first_word.setdefault(first.group(), set()).add(value)

    @classmethod
    def of_world(cls, world: Path) -> PersonalData:
        found = cls()
        with (world / "ground_truth" / "people.csv").open(newline="", encoding="utf-8") as handle:
            for person in csv.DictReader(handle):
                for value in (person["email"], f"{person['first_name']} {person['last_name']}", person["street"]):
                    if value:
                        found.add(value)
                if person["phone_e164"]:
                    digits = re.sub(r"\D", "", person["phone_e164"])
                    found.national.add(digits[-10:])
        with (world / "ground_truth" / "bad_rows.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["kind"] == "malformed_email" and not row["value"].startswith("@"):
                    found.add(row["value"])
                elif row["kind"] == "malformed_phone" and len(re.sub(r"\D", "", row["value"])) >= 7:
                    found.bad_phones.add(re.sub(r"\D", "", row["value"]))
        return found

    def find(self, text: str) -> list[str]:
        lower = text.lower()
        hits = {value for word in re.finditer(r"\w+", lower)
                for value in self.by_first_word.get(word.group(), ()) if lower.startswith(value, word.start())}
        for run in PHONE_RUN.finditer(text):
            digits = re.sub(r"\D", "", run.group())
            if digits[-10:] in self.national or any(digits.endswith(bad) for bad in self.bad_phones):
                hits.add(run.group())
        return sorted(hits)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def run_texts(record: RunRecord, settings: Settings, text: str) -> list[tuple[str, str]]:
    """(where, text) for everything the run wrote that is not the warehouse: every event of every
    run in the instance (messages, metadata, check descriptions, step errors), Python logging,
    the demo's printout, every file of Data Docs and every log file written since the run began."""
    from dagster_shared.serdes import serialize_value

    from orchestration.settings import DBT_PROJECT_DIR

    texts = [("python logging", "\n".join(record.python_log)), ("demo output", text)]
    # "": events reported outside a run (a sensor's observation)
    for run_id in [*(run.run_id for run in record.instance.get_runs()), ""]:
        for entry in record.instance.all_logs(run_id):
            kind = entry.dagster_event.event_type_value if entry.dagster_event else "log message"
            where = f"run {run_id[:8] or '(none)'} {kind} of {entry.step_key or 'the run'}"
            texts.append((where, "\n".join(_strings(json.loads(serialize_value(entry))))))
    data_docs = settings.home / "data_docs"
    logs = [path for folder in (settings.home, DBT_PROJECT_DIR) for path in folder.rglob("*.log")
            if path.stat().st_mtime >= record.started - 1]
    for path in [*(p for p in data_docs.rglob("*") if p.is_file()), *logs]:
        try:
            content = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if path.suffix == ".json":
            content = "\n".join(_strings(json.loads(content)))
        texts.append((str(path), html.unescape(content)))
    return texts


def personal_data_found(texts: list[tuple[str, str]], personal: PersonalData) -> list[str]:
    return [f"{where}: {', '.join(hits)}" for where, content in texts if (hits := personal.find(content))]
