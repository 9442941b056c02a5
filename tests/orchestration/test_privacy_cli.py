"""`cdp privacy export` and `cdp privacy consent` on a small three-person warehouse."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from activations.governance import audit
from expectations.warehouse import DuckDBWarehouse
from orchestration.cli import main
from tests.activations import privacy_warehouse
from tests.activations.privacy_warehouse import ANA_EMAIL, BOB_EMAIL


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return privacy_warehouse.build(tmp_path_factory.mktemp("privacy_cli") / "wh.duckdb")


@pytest.fixture
def home(built: Path, tmp_path: Path, monkeypatch) -> Path:
    """CDP_HOME with a private copy of the warehouse (the commands write the audit log)."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(built, home / "cdp.duckdb")
    monkeypatch.setenv("CDP_HOME", str(home))
    monkeypatch.delenv("CDP_WAREHOUSE_PATH", raising=False)
    monkeypatch.delenv("CDP_TARGET", raising=False)
    monkeypatch.setenv("CDP_ACTOR", "privacy-officer")
    return home


def exports(home: Path):
    with DuckDBWarehouse(home / "cdp.duckdb", read_only=True) as warehouse:
        return audit.read(warehouse, action="privacy.access_export")


def test_export_writes_the_document_to_a_private_file_and_audits_it(home: Path) -> None:
    out = home / "ana.json"
    result = CliRunner().invoke(main, ["privacy", "export", "email: Ana@Example.com", "--out", str(out)])
    assert result.exit_code == 0, result.output
    found = "customer cus_ana (active, 1 merged-away id; 5 identifiers, 5 source records)"
    assert f"wrote the export of {found} to {out}" in result.output
    document = json.loads(out.read_text())
    assert document["customer"]["customer_ids"] == ["cus_ana", "cus_ana_old"]
    assert document["request"]["identifier_type"] == "email"
    assert document["profile"]["email"] == ANA_EMAIL and BOB_EMAIL not in out.read_text()
    assert [o["order_id"] for o in document["records"]["commerce/orders"]] == ["o1"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [f for f in home.iterdir() if f.name.startswith(".ana.json")] == []  # no temporary file left
    (event,) = exports(home).itertuples(index=False)
    assert (event.subject_id, event.actor) == (audit.hash_identifier("cus_ana"), "cli:privacy-officer")
    assert json.loads(event.detail)["sections"]["records.commerce/orders"] == 1


def test_export_without_out_prints_the_json(home: Path) -> None:
    result = CliRunner().invoke(main, ["privacy", "export", "phone:+14155550134"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customer"]["customer_id"] == "cus_ana"
    assert len(exports(home)) == 1


def test_a_dry_run_says_who_and_how_much_and_writes_nothing(home: Path) -> None:
    out = home / "bob.json"
    result = CliRunner().invoke(main, ["privacy", "export", "crm_contact_id:502", "--out", str(out), "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "found customer cus_bob (active; 3 identifiers, 3 source records)"
    assert any(line.split() == ["records.commerce/orders", "1"] for line in lines)
    assert any(line.split() == ["activation.ledger", "1"] for line in lines)
    assert lines[-1] == "dry run: nothing written, no audit event"
    assert not out.exists() and exports(home).empty


@pytest.mark.parametrize(("identifier", "message"), [
    ("email:nobody@example.com", "Invalid value for IDENTIFIER: no person has the email given: "
                                 "'email:nobody@example.com'"),
    ("cus_nobody", "Invalid value for IDENTIFIER: no customer has the id cus_nobody: 'cus_nobody'"),
    ("nobody", "Invalid value for IDENTIFIER: say what 'nobody' is: type:value"),
    ("device_id:dev-shared", "the device_id given belongs to 2 people (cus_ana, cus_bob): name one by customer_id"),
])
@pytest.mark.parametrize("command", ["export", "consent"])
def test_an_unknown_identifier_is_named_with_exit_code_2(home: Path, command: str, identifier: str,
                                                          message: str) -> None:
    result = CliRunner().invoke(main, ["privacy", command, identifier])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert exports(home).empty


def test_export_to_a_missing_folder_is_refused_before_anything_is_read(home: Path) -> None:
    result = CliRunner().invoke(main, ["privacy", "export", ANA_EMAIL, "--out", str(home / "no" / "ana.json")])
    assert result.exit_code == 2
    assert f"Invalid value for --out: no folder {home / 'no'} to write ana.json in" in " ".join(result.output.split())


def test_without_a_warehouse_the_commands_say_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CDP_HOME", str(tmp_path))
    monkeypatch.delenv("CDP_WAREHOUSE_PATH", raising=False)
    result = CliRunner().invoke(main, ["privacy", "consent", ANA_EMAIL])
    assert result.exit_code == 1 and "no warehouse at" in result.output


def test_consent_shows_each_channel_with_the_signal_that_decided_it(home: Path) -> None:
    result = CliRunner().invoke(main, ["privacy", "consent", "user_id:u_ana"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "customer cus_ana (active, 1 merged-away id; 5 identifiers, 5 source records)",
        "  ads      denied   opt_out from events/events at 2026-02-01T10:00:00Z, record events/events/e1",
        "  email    granted  opt_in from email/email_events at 2026-01-15T08:00:00Z, record email/email_events/m1",
        "  sms      unknown  no signal",
    ]
    history = CliRunner().invoke(main, ["privacy", "consent", "user_id:u_ana", "--history"])
    assert history.exit_code == 0, history.output
    assert history.output.splitlines()[4:] == [
        "signals (2):",
        "  ads      2026-02-01T10:00:00Z             opt_out      events/events/e1",
        "  email    2026-01-15T08:00:00Z             opt_in       email/email_events/m1",
    ]
    assert exports(home).empty  # a lookup is not an export
