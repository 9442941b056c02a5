"""The `cdp` command line: clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from orchestration.cli import main


def test_generate_writes_a_world_and_lists_its_tables(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["generate", "--people", "20", "--out", str(tmp_path / "w")])
    assert result.exit_code == 0, result.output
    assert "wrote a world of 20 people" in result.output and "crm/contacts" in result.output
    assert (tmp_path / "w" / "ground_truth" / "records.csv").exists()


def test_generate_refuses_a_folder_that_is_not_a_world(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["generate", "--people", "5", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "does not look like a previous sample world" in result.output
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_a_bad_target_is_a_usage_error(monkeypatch) -> None:
    monkeypatch.setenv("CDP_TARGET", "snowflake")
    result = CliRunner().invoke(main, ["generate", "--people", "5"])
    assert result.exit_code == 2
    assert "CDP_TARGET must be one of ('duckdb', 'postgres'), got 'snowflake'" in result.output


def test_activation_list_shows_each_audience_and_where_it_goes(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CDP_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["activation", "list"])
    assert result.exit_code == 0, result.output
    assert "rfm_champions (audiences.rfm_champions, schedule 0 6 * * *)" in result.output
    assert "-> ad_platform: mirror, ads consent, fields email, phone" in result.output
    assert "exclusive group winback" in result.output


def test_activation_plan_names_unknown_audiences_and_a_missing_warehouse(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CDP_HOME", str(tmp_path))
    result = CliRunner().invoke(main, ["activation", "plan", "--audience", "vips"])
    assert result.exit_code == 2
    assert "unknown audience 'vips'; audiences: at_risk_customers, cart_abandoners" in result.output
    result = CliRunner().invoke(main, ["activation", "plan", "--audience", "rfm_champions", "--destination", "webhook"])
    assert result.exit_code == 2 and "'rfm_champions' is not sent to 'webhook'" in result.output
    result = CliRunner().invoke(main, ["activation", "plan"])
    assert result.exit_code == 1 and "no warehouse at" in result.output


def test_a_broken_destinations_file_is_reported_by_the_cli(monkeypatch, tmp_path: Path) -> None:
    bad = tmp_path / "destinations.yml"
    bad.write_text("destinations:\n  email_platform:\n    type: esp\n    channel: carrier_pigeon\n")
    monkeypatch.setenv("CDP_HOME", str(tmp_path))
    monkeypatch.setenv("CDP_DESTINATIONS_FILE", str(bad))
    result = CliRunner().invoke(main, ["activation", "list"])
    assert result.exit_code == 1
    assert "destination 'email_platform': channel (the consent a member must have granted) must be one of" in result.output
