"""Dagster resources built from the settings: the one place the environment switch is applied."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from dlt_sources.pipelines import destination, loader_file_format, make_pipeline
from orchestration.settings import DBT_PROJECT_DIR, Settings, environment


class PlatformResource(dg.ConfigurableResource):
    """Where the platform's data lives, for the assets that load and read it."""

    target: str
    home: str
    warehouse_path: str
    landing_dir: str
    pos_database_url: str
    postgres_url: str = ""
    default_phone_region: str = "US"
    dbt_env: dict[str, str] = {}
    allow_pii_in_metadata: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> PlatformResource:
        return cls(
            target=settings.target,
            home=str(settings.home),
            warehouse_path=str(settings.warehouse_path),
            landing_dir=str(settings.landing_dir),
            pos_database_url=str(settings.pos_database_url),
            postgres_url=settings.postgres.url if settings.target == "postgres" else "",
            default_phone_region=settings.default_phone_region,
            dbt_env=settings.dbt_env(),
            allow_pii_in_metadata=settings.allow_pii_in_metadata,
        )

    def landing(self, source: str) -> str:
        return str(Path(self.landing_dir) / source)

    def destination(self) -> Any:
        return destination(
            self.target, warehouse_path=Path(self.warehouse_path), postgres_url=self.postgres_url or None
        )

    def pipeline(self, source: str) -> Any:
        return make_pipeline(source, self.destination(), Path(self.home) / "dlt_pipelines")

    def warehouse(self, read_only: bool = False) -> Any:
        """A connection for the quality gates (`expectations.warehouse`); close it when done."""
        from expectations.warehouse import connect

        return connect(self.target, duckdb_path=self.warehouse_path, postgres_dsn=self.postgres_url or None,
                       read_only=read_only)

    @property
    def redactor(self) -> Any:
        """What the assets may show of data values (`activations.governance.redaction.Redactor`)."""
        from activations.governance.redaction import Redactor

        return Redactor(allow_samples=self.allow_pii_in_metadata)

    @property
    def data_docs_dir(self) -> Path:
        return Path(self.home) / "data_docs"

    @property
    def loader_file_format(self) -> str:
        return loader_file_format(self.target)

    @contextmanager
    def dbt_environment(self) -> Iterator[None]:
        """The variables transform/profiles.yml reads, set for the dbt subprocesses started inside."""
        with environment(self.dbt_env):
            yield


class CrmApiResource(dg.ConfigurableResource):
    """The CRM's HubSpot-compatible API: the local server by default, HubSpot given its URL and token."""

    base_url: str
    access_token: str


def build_resources(settings: Settings) -> dict[str, Any]:
    return {
        "platform": PlatformResource.from_settings(settings),
        "crm_api": CrmApiResource(
            base_url=settings.crm_base_url, access_token=dg.EnvVar("CDP_CRM_TOKEN")
        ),
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            target=settings.target,
        ),
    }
