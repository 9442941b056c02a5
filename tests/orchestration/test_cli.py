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
