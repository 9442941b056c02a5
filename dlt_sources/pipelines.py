"""The catalogue of sources and how each is loaded: one dlt pipeline and raw dataset per source.

Plain Python: callers (the Dagster assets, the CLI, tests) pass the destination and folders
explicitly; nothing here reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt

from dlt_sources.commerce import commerce_source
from dlt_sources.crm import crm_source
from dlt_sources.email import email_source
from dlt_sources.events import events_source
from dlt_sources.lists import lists_source
from dlt_sources.support import support_source


@dataclass(frozen=True)
class SourceSpec:
    """One system feeding the platform."""

    name: str
    factory: Callable[..., Any]
    kind: str  # "landing" (a folder of files), "api" or "database"
    description: str

    @property
    def dataset(self) -> str:
        return f"raw_{self.name}"

    @property
    def pipeline_name(self) -> str:
        return f"cdp_{self.name}"


SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec("events", events_source, "landing", "Segment-spec web and app events"),
        SourceSpec("crm", crm_source, "api", "CRM contacts, companies, deals, owners and deletions (HubSpot CRM API)"),
        SourceSpec("commerce", commerce_source, "database", "commerce and point-of-sale orders"),
        SourceSpec("email", email_source, "landing", "email-platform engagement"),
        SourceSpec("support", support_source, "landing", "help-desk tickets"),
        SourceSpec("lists", lists_source, "landing", "uploaded customer lists"),
    )
}


def destination(target: str, *, warehouse_path: Path | None = None, postgres_url: str | None = None) -> Any:
    """The dlt destination for the one environment switch (`duckdb` or `postgres`)."""
    if target == "duckdb":
        if warehouse_path is None:
            raise ValueError("the duckdb target needs a warehouse path")
        warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        return dlt.destinations.duckdb(str(warehouse_path))
    if target == "postgres":
        if not postgres_url:
            raise ValueError("the postgres target needs a connection URL")
        return dlt.destinations.postgres(postgres_url)
    raise ValueError(f"unknown target {target!r}; expected 'duckdb' or 'postgres'")


def loader_file_format(target: str) -> str:
    """Parquet is several times faster than insert statements where the destination takes it."""
    return "parquet" if target == "duckdb" else "csv"


def make_pipeline(source: str, dest: Any, pipelines_dir: Path, *, dev_mode: bool = False) -> dlt.Pipeline:
    # Arrow tables (the commerce source) get dlt's load id and row id like every other table:
    # the quality gates validate each load by `_dlt_load_id`.
    dlt.config["normalize.parquet_normalizer.add_dlt_load_id"] = True
    dlt.config["normalize.parquet_normalizer.add_dlt_id"] = True
    # Resources are extracted one after another in the source's order, not interleaved: a parent
    # (an order, a CRM contact) is read before its children, so the tombstone filter drops the
    # children of a record it dropped in the same run (dlt_sources/tombstones.py).
    dlt.config["extract.next_item_mode"] = "fifo"
    spec = SOURCES[source]
    return dlt.pipeline(
        pipeline_name=spec.pipeline_name,
        destination=dest,
        dataset_name=spec.dataset,
        pipelines_dir=str(pipelines_dir),
        dev_mode=dev_mode,
    )
