"""Reads the dbt project's `vars` from Python: dbt_project.yml is the one place identity rules
(and their probabilistic and health settings) are configured; dbt reads them through `var()`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DBT_PROJECT_FILE = Path(__file__).resolve().parent / "dbt_project.yml"


class ProjectConfigError(ValueError):
    """A configuration section is missing from dbt_project.yml or has the wrong shape."""


def project_var(dotted: str, path: Path | str | None = None) -> Mapping[str, Any]:
    """The mapping at `vars.<dotted>` (e.g. `identity.health`) of dbt_project.yml (default: the project's own)."""
    path = Path(path) if path is not None else DBT_PROJECT_FILE
    try:
        config: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ProjectConfigError(f"no dbt project file at {path}") from exc
    name = f"vars.{dotted}"
    for key in name.split("."):
        if not isinstance(config, Mapping) or key not in config:
            raise ProjectConfigError(f"{path} has no {name} section")
        config = config[key]
    if not isinstance(config, Mapping):
        raise ProjectConfigError(f"{name} in {path} must be a mapping, got {config!r}")
    return config
