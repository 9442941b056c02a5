"""The `cdp` command: generate the sample world, run the local CRM, run the platform, open the UI."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from orchestration.settings import LOCAL_CRM_TOKEN, Settings

DAGSTER_YAML = Path(__file__).with_name("dagster.yaml")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group()
def main() -> None:
    """OpenCDP: a warehouse-native customer data platform."""


@main.command()
@click.option("--people", type=click.IntRange(min=1), default=1_000, show_default=True, help="People in the world.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed; same seed, same files.")
@click.option("--batches", type=click.IntRange(min=1), default=4, show_default=True, help="Delivery batches per feed.")
@click.option(
    "--end",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default="2026-11-01",
    show_default=True,
    help="The world's last day (UTC); it covers the year before.",
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Folder (default: CDP_WORLD_DIR).")
def generate(people: int, seed: int, batches: int, end: datetime, out: Path | None) -> None:
    """Generate the deterministic sample world and its ground truth."""
    from dlt_sources.sample_world import generate_world

    out = out or _settings().world_dir
    try:
        summary = generate_world(out, people=people, seed=seed, end=end.replace(tzinfo=timezone.utc), batches=batches)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote a world of {people:,} people to {out}")
    for table, count in sorted(summary["rows"].items()):
        click.echo(f"  {table:<28} {count:>10,}")


@main.command("crm-server")
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--world", type=click.Path(path_type=Path), default=None, help="World folder (default: CDP_WORLD_DIR).")
def crm_server(port: int, world: Path | None) -> None:
    """Serve the local HubSpot-compatible CRM API of the sample world until interrupted."""
    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore

    settings = _settings()
    world = world or settings.world_dir
    db = world / "systems" / "crm.sqlite"
    _seed_crm(CrmStore, db, world / "systems" / "crm_seed")
    token = os.environ.get("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN)
    with CrmServer(db, token=token, port=port) as server:
        click.echo(f"CRM API on {server.base_url} (token from CDP_CRM_TOKEN); Ctrl-C to stop")
        try:
            server.wait()
        except KeyboardInterrupt:
            pass


def _seed_crm(store_cls, db: Path, seed_dir: Path) -> None:
    if db.exists():
        return
    if not seed_dir.is_dir():
        raise click.ClickException(f"no CRM seed at {seed_dir}: run `cdp generate` first")
    store_cls(db).seed_from_jsonl(seed_dir)


@main.command()
@click.option("--people", type=click.IntRange(min=1), default=1_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--fresh/--keep", default=True, show_default=True, help="Start from an empty warehouse.")
def demo(people: int, seed: int, fresh: bool) -> None:
    """Generate the sample world, run every asset end to end, and print what was built."""
    from orchestration.demo import run_demo

    settings = _settings()
    if settings.target != "duckdb":
        raise click.UsageError("the demo runs on the embedded DuckDB default; unset CDP_TARGET")
    result = run_demo(settings, people=people, seed=seed, fresh=fresh, echo=click.echo)
    if not result.success:
        sys.exit(1)


@main.command()
@click.option("--port", type=int, default=3000, show_default=True)
def ui(port: int) -> None:
    """Open the Dagster UI on the platform (with the local CRM server running beside it)."""
    import subprocess

    from dlt_sources.sample_world.crm_server import CrmServer, CrmStore

    settings = _settings()
    home = prepare_dagster_home(settings)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.setdefault("CDP_CRM_TOKEN", LOCAL_CRM_TOKEN)
    command = ["dagster", "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)]
    if "CDP_CRM_BASE_URL" in os.environ or not (settings.crm_seed_dir.is_dir() or settings.crm_db_path.exists()):
        sys.exit(subprocess.call(command, env=env))
    _seed_crm(CrmStore, settings.crm_db_path, settings.crm_seed_dir)
    with CrmServer(settings.crm_db_path, token=env["CDP_CRM_TOKEN"], port=0) as server:
        env["CDP_CRM_BASE_URL"] = server.base_url
        click.echo(f"local CRM API on {server.base_url}; Dagster UI on http://127.0.0.1:{port}")
        sys.exit(subprocess.call(command, env=env))


def prepare_dagster_home(settings: Settings) -> Path:
    home = settings.home / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    return home


if __name__ == "__main__":  # pragma: no cover
    main()
