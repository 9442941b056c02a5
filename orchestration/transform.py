"""dbt assets: every model of transform/ in the same lineage graph as the raw tables.

Sources declare `meta.dagster.asset_key` (`raw/<source>/<table>`), so staging models hang
off the dlt assets. Keys and groups come from the dbt folder path: `models/staging/events/
stg_events__events.sql` is `staging/events/stg_events__events` in group `staging`.
"""


import fcntl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.policy import DUCKDB_WRITERS_POOL, EAGER
from orchestration.redaction import redacted_errors
from orchestration.resources import PlatformResource
from orchestration.settings import DBT_PROJECT_DIR, Settings

WATCHED = ("models", "macros", "seeds", "tests", "dbt_project.yml", "profiles.yml")


class CuratedZoneTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(list(dbt_resource_props["fqn"][1:]))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props["fqn"]
        return fqn[1] if len(fqn) > 2 else "transform"

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        return EAGER


def dbt_project() -> DbtProject:
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def ensure_manifest(project: DbtProject, settings: Settings) -> Path:
    """Parses the dbt project when its manifest is missing or older than any project file.

    A lock file serializes processes that load the definitions at once (test workers, run
    workers), so one parses and the others read its manifest.
    """
    manifest = Path(project.manifest_path)
    target = Path(project.target_path)
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_fresh(manifest):
            return manifest
        platform = PlatformResource.from_settings(settings)
        with platform.dbt_environment():
            DbtCliResource(project_dir=project).cli(["parse", "--quiet"], target_path=target).wait()
    return manifest


def _is_fresh(manifest: Path) -> bool:
    if not manifest.exists():
        return False
    newest = max(
        (path.stat().st_mtime for name in WATCHED for path in _files(DBT_PROJECT_DIR / name)),
        default=0.0,
    )
    return newest <= manifest.stat().st_mtime


def _files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
    elif path.is_dir():
        yield from (child for child in path.rglob("*") if child.is_file())


def transform_assets(settings: Settings) -> dg.AssetsDefinition:
    project = dbt_project()
    manifest = ensure_manifest(project, settings)

    @dbt_assets(
        manifest=manifest,
        project=project,
        name="dbt_models",
        dagster_dbt_translator=CuratedZoneTranslator(
            settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)
        ),
        pool=DUCKDB_WRITERS_POOL,
    )
    def _dbt_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, platform: PlatformResource
    ) -> Iterator[Any]:
        # a failed cast quotes the value in DuckDB's error, and dbt passes it on
        with platform.dbt_environment(), redacted_errors(platform.redactor):
            # Dagster runs the dbt models in several steps around the Python assets (probabilistic
            # matching, identity health). buildable: a test runs in the step that builds its last
            # model (its other models are built or upstream by then), so a relationship test
            # between models of different steps runs too (cautious left those out: blocking
            # checks without a result, and Dagster let their downstream steps go on ungated)
            yield from dbt.cli(["build", "--indirect-selection", "buildable"], context=context).stream()

    return _dbt_models
