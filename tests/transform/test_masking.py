"""PII masking: the marks of the curated models, the generated masked twins and what they hold.

The masked output of a real warehouse (every twin beside its curated model, built by the
platform run) is checked in tests/test_end_to_end.py. Here: the generator, the marks of the
parsed project, and the macro itself on small hand-made tables (DuckDB, and PostgreSQL with
the analyst role's grants), where every expected value is known.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from activations.governance import masking
from orchestration.settings import DBT_PROJECT_DIR, Settings
from tests.postgres_server import postgres_bin_dir, running_postgres

KEY = "k" * 72  # a masking key set by the test, so every hash is known


def keyed_sha256(value: str, key: str = KEY) -> str:
    return hashlib.sha256(f"{key}:{value}".encode()).hexdigest()


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from orchestration.transform import dbt_project, ensure_manifest

    path = ensure_manifest(dbt_project(), Settings(home=tmp_path_factory.mktemp("home")))
    return json.loads(Path(path).read_text())


# -- the generator ------------------------------------------------------------------------------


def test_the_masked_models_are_generated_and_up_to_date() -> None:
    """Fails when a curated model was added, renamed or removed without running the generator."""
    assert masking.stale_files() == [], "run `python -m activations.governance.masking`"
    twins = sorted(path.stem for path in (DBT_PROJECT_DIR / masking.MASKED_DIR).glob("*.sql"))
    assert twins == sorted(f"{model}_masked" for model in masking.curated_models())
    assert {"customer_profiles", "customer_identifiers", "identity_customers", "rfm_champions"} <= set(
        masking.curated_models())
    assert not any(model.startswith("int_") for model in masking.curated_models())


def test_a_curated_model_without_its_twin_is_named_and_the_generator_fixes_it(tmp_path: Path) -> None:
    for relative in ("models/profiles/traits.sql", "models/identity/people.sql", "models/identity/int_step.sql",
                     "models/staging/crm/stg_crm__contacts.sql"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("select 1 as id\n")
    assert sorted(path.name for path in masking.write_masked_models(tmp_path)) == [
        "_masked__models.yml", "people_masked.sql", "traits_masked.sql"]
    assert masking.stale_files(tmp_path) == []
    assert "{{ masked_select('traits') }}" in (tmp_path / masking.MASKED_DIR / "traits_masked.sql").read_text()

    (tmp_path / "models/audiences").mkdir()
    (tmp_path / "models/audiences/buyers.sql").write_text("select 1 as id\n")
    (tmp_path / "models/identity/people.sql").unlink()
    (tmp_path / masking.MASKED_DIR / "traits_masked.sql").write_text("select * from {{ ref('traits') }}\n")
    assert masking.stale_files(tmp_path) == [
        "models/governance/masked/buyers_masked.sql is missing (a curated model without its masked twin)",
        "models/governance/masked/traits_masked.sql differs from what the generator writes",
        "models/governance/masked/_masked__models.yml differs from what the generator writes",
        "models/governance/masked/people_masked.sql is not a masked twin of a curated model",
    ]
    masking.write_masked_models(tmp_path)
    assert masking.stale_files(tmp_path) == []
    assert not (tmp_path / masking.MASKED_DIR / "people_masked.sql").exists()


def test_the_check_command_exits_1_on_a_stale_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert masking.main(["--check"]) == 0
    (tmp_path / "models/profiles").mkdir(parents=True)
    (tmp_path / "models/profiles/traits.sql").write_text("select 1 as id\n")
    monkeypatch.setattr(masking, "PROJECT_DIR", tmp_path)
    assert masking.main(["--check"]) == 1
    assert "traits_masked.sql is missing" in capsys.readouterr().err


# -- the marks ----------------------------------------------------------------------------------


def test_looks_personal_reads_the_words_of_a_column_name() -> None:
    config = masking.load_config()
    personal = ["email", "phone", "first_name", "street_address", "date_of_birth", "postcode", "customer_id",
                "record_ref", "identifier_key_a", "consent_email", "drop_detail"]
    measures = ["email_count", "emails_sent_30d", "first_name_source", "email_observed_at", "email_open_rate_30d",
                "identifier_type", "orders_count", "cart_value", "rfm_segment", "revenue_usd"]
    assert [column for column in personal if not config.looks_personal(column)] == []
    assert [column for column in measures if config.looks_personal(column)] == []


def test_a_bad_masking_config_names_each_problem(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project.yml"
    project.write_text("vars:\n  masking:\n    policies: {email: hash, name: blur}\n    personal_words: email\n")
    with pytest.raises(masking.MaskingError) as error:
        masking.load_config(project)
    assert error.value.problems == [
        "vars.masking.policies.name: unknown policy 'blur' (one of hash, null, year, prefix3, keep)",
        "vars.masking.personal_words must be a list of words",
        "vars.masking.measure_words must be a list of words",
    ]


def test_every_personal_column_of_the_curated_models_is_marked(manifest: dict[str, Any]) -> None:
    assert masking.mark_problems(manifest, masking.load_config()) == []
    profiles = masking.column_marks(manifest["nodes"]["model.opencdp.customer_profiles"])
    assert {column: profiles[column] for column in ("email", "phone", "first_name", "date_of_birth", "postcode",
                                                    "street_address", "customer_id", "emails")} == {
        "email": "email", "phone": "phone", "first_name": "name", "date_of_birth": "birth_date",
        "postcode": "postcode", "street_address": "address", "customer_id": "identifier",
        "emails": "identifier_list"}


def test_an_unmarked_or_wrongly_marked_personal_column_is_named(manifest: dict[str, Any]) -> None:
    broken = copy.deepcopy(manifest)
    profiles = broken["nodes"]["model.opencdp.customer_profiles"]
    profiles["columns"]["email"]["meta"] = {}
    profiles["columns"]["email"]["config"]["meta"] = {}
    profiles["columns"]["phone"]["meta"] = profiles["columns"]["phone"]["config"]["meta"] = {"pii": True}
    # a column the YAML does not document, found in a built warehouse's catalog
    columns = {"rfm_champions": ["customer_id", "email", "backup_phone", "orders_count"]}
    assert masking.mark_problems(broken, masking.load_config(), columns) == [
        "customer_profiles (models/profiles/customer_profiles.sql): column phone has pii: True; a mark is false"
        " or one of address, birth_date, city, email, free_text, identifier, identifier_list, name, phone,"
        " postcode, region",
        "customer_profiles (models/profiles/customer_profiles.sql): column email looks personal and has no pii mark",
        "rfm_champions (models/audiences/rfm_champions.sql): column backup_phone looks personal and has no pii mark",
    ]


# -- the macro on small tables ------------------------------------------------------------------

PROFILES = [
    # customer_id, first_name, email, phone, date_of_birth, street_address, city, postcode, orders_count
    ("cus_a", "Ana", "ana@example.com", "+14155550134", date(1985, 6, 30), "1 Main St", "Springfield", "SW1A 1AA", 3),
    ("cus_b", "Bo", None, "+447700900123", None, None, None, "94105-1234", 0),
]
CONSENT = [("cus_a:email", "cus_a", "email", True, "email/email_events/evt_1"),
           ("cus_b:email", "cus_b", "email", None, None)]
GIVEN = {  # table -> the columns the rows fill; every other marked column is added, empty
    "customer_profiles": (["customer_id", "first_name", "email", "phone", "date_of_birth", "street_address", "city",
                           "postcode", "orders_count"], PROFILES),
    "customer_consent": (["consent_key", "customer_id", "channel", "granted", "signal_record_ref"], CONSENT),
    "customer_traits": (["customer_id", "orders_count"], [("cus_a", 3)]),
    "customer_identifiers": (["identifier_key", "customer_id"], [("email:ana@example.com", "cus_a")]),
}
MASKED_COLUMNS = "customer_id, first_name, email, phone, date_of_birth, street_address, city, postcode, orders_count"


def _sql_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (bool, int)):
        return str(value).lower()
    return f"'{value}'"


def _statements(manifest: dict[str, Any], *, extra: dict[str, list[str]] | None = None,
                missing: dict[str, list[str]] | None = None) -> list[str]:
    """Small `profiles`/`identity` tables with every marked column (text unless typed below) and
    the rows above, plus `extra` columns, minus `missing` ones; and the masking key set to KEY."""
    typed = {"date_of_birth": "date", "orders_count": "integer", "granted": "boolean"}
    statements = ["create schema if not exists profiles", "create schema if not exists identity",
                  "create schema if not exists governance",
                  "create table governance.masking_key (key_value varchar not null,"
                  " created_at timestamp with time zone not null)",
                  f"insert into governance.masking_key values ('{KEY}', current_timestamp)"]
    for table, (columns, rows) in GIVEN.items():
        node = manifest["nodes"][f"model.opencdp.{table}"]
        schema = node["fqn"][1] if node["fqn"][1] == "identity" else "profiles"
        marked = sorted(set(masking.column_marks(node)) - set(columns))
        names = [name for name in columns + marked + (extra or {}).get(table, [])
                 if name not in (missing or {}).get(table, [])]
        statements.append(f"create table {schema}.{table} ("
                          + ", ".join(f"{name} {typed.get(name, 'varchar')}" for name in names) + ")")
        statements += [f"insert into {schema}.{table} ({', '.join(columns)})"
                       f" values ({', '.join(_sql_value(value) for value in row)})" for row in rows]
    return statements


def _dbt_run(settings: Settings, target: Path, models: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    dbt = shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
    return subprocess.run(
        [dbt, "run", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target-path", str(target), "--log-path", str(target / "logs"), "--select", models],
        env={**os.environ, **settings.dbt_env(), **(env or {})}, capture_output=True, text=True,
    )


def _check_masked_profiles(rows: list[tuple[Any, ...]]) -> None:
    """Hashes keyed with KEY, names and street and city empty, the year of birth, a postcode's first 3."""
    assert sorted(rows) == sorted([
        (keyed_sha256("cus_a"), None, keyed_sha256("ana@example.com"), keyed_sha256("+14155550134"),
         date(1985, 1, 1), None, None, "SW1", 3),
        (keyed_sha256("cus_b"), None, None, keyed_sha256("+447700900123"), None, None, None, "941", 0),
    ])


def test_masked_twins_on_duckdb_and_what_fails_their_build(manifest: dict[str, Any], tmp_path: Path) -> None:
    """One dbt run: two twins built and checked value by value; an unmarked personal column
    (customer_traits.backup_email) and a mark on a column the model lacks
    (customer_identifiers.identifier_value) fail their twins, named."""
    import duckdb

    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    statements = _statements(manifest, extra={"customer_traits": ["backup_email"]},
                             missing={"customer_identifiers": ["identifier_value"]})
    with duckdb.connect(str(settings.warehouse_path)) as con:
        for statement in statements:
            con.execute(statement)
    result = _dbt_run(settings, tmp_path / "target", "customer_profiles_masked customer_consent_masked"
                      " customer_traits_masked customer_identifiers_masked")
    assert result.returncode == 1, result.stdout[-4000:]
    assert ("column(s) backup_email of customer_traits (models/profiles/customer_traits.sql) look personal"
            " and have no pii mark") in result.stdout
    assert ("customer_identifiers (models/identity/customer_identifiers.sql) marks column identifier_value"
            " (pii: identifier), which") in result.stdout
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert sorted(row[0] for row in con.execute("select table_name from information_schema.tables"
                                                    " where table_schema = 'curated_masked'").fetchall()) == [
            "customer_consent", "customer_profiles"]
        _check_masked_profiles(con.execute(f"select {MASKED_COLUMNS} from curated_masked.customer_profiles").fetchall())
        # hashed ids join across twins as the raw ids join across the curated models
        joined = con.execute(
            "select p.email, c.consent_key, c.signal_record_ref, c.granted from curated_masked.customer_profiles p"
            " join curated_masked.customer_consent c on c.customer_id = p.customer_id order by c.granted").fetchall()
        assert joined == [
            (keyed_sha256("ana@example.com"), keyed_sha256("cus_a:email"),
             keyed_sha256("email/email_events/evt_1"), True),
            (None, keyed_sha256("cus_b:email"), None, None)]
        # the key created once stays: the run found it and added none
        assert con.execute("select key_value from governance.masking_key").fetchall() == [(KEY,)]


def test_an_analyst_role_on_duckdb_or_not_a_plain_name_is_refused(tmp_path: Path) -> None:
    result = _dbt_run(Settings(home=tmp_path / "home"), tmp_path / "target", "customer_profiles_masked",
                      env={"CDP_ANALYST_ROLE": "Analyst; drop table x"})
    assert result.returncode != 0
    assert ("masking: analyst_role 'Analyst; drop table x' (CDP_ANALYST_ROLE): not a plain role name"
            " (lower-case letters, digits and _, not starting with a digit); for PostgreSQL only,"
            " DuckDB has no roles: leave it empty on the duckdb target") in result.stdout


@pytest.mark.postgres
@pytest.mark.skipif(postgres_bin_dir() is None, reason="PostgreSQL server binaries are not installed")
def test_on_postgres_the_same_hashes_and_the_analyst_role_reads_the_masked_schema_only(
        manifest: dict[str, Any], tmp_path: Path) -> None:
    import psycopg2

    with running_postgres() as server:
        settings = Settings(home=tmp_path / "home", target="postgres", postgres=server.settings())
        with psycopg2.connect(settings.postgres.url) as con, con.cursor() as cur:
            for statement in [*_statements(manifest), "create role analyst login password 'analyst-pw'"]:
                cur.execute(statement)
        result = _dbt_run(settings, tmp_path / "target", "customer_profiles_masked customer_consent_masked",
                          env={"CDP_ANALYST_ROLE": "analyst"})
        assert result.returncode == 0, result.stdout[-4000:]
        analyst = f"postgresql://analyst:analyst-pw@{server.host}:{server.port}/{server.dbname}"
        with psycopg2.connect(analyst) as con, con.cursor() as cur:
            cur.execute(f"select {MASKED_COLUMNS} from curated_masked.customer_profiles")
            _check_masked_profiles(cur.fetchall())
            cur.execute("select count(*) from curated_masked.customer_consent")
            assert cur.fetchone()[0] == 2
        for table in ("profiles.customer_profiles", "governance.masking_key"):
            with psycopg2.connect(analyst) as con, con.cursor() as cur:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(f"select * from {table}")
