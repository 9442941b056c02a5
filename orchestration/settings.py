"""The platform's settings: one place that reads the environment.

`CDP_TARGET` is the one switch: it picks the dbt target, the dlt destination and the
Dagster resources (`duckdb`, the embedded default, or `postgres`). Everything else has a
default under `CDP_HOME` (default: `warehouse/` in the project folder). Secrets such as the
CRM token are not read here: the Dagster resources take them as `dg.EnvVar`.

`CDP_ALLOW_PII_IN_METADATA` (default off) lets samples of personal values appear unmasked in
Dagster metadata, logs and Data Docs (see activations/governance/redaction.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from activations.governance.redaction import Redactor, parse_setting

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "transform"
TARGETS = ("duckdb", "postgres")
LOCAL_CRM_TOKEN = "opencdp-local-crm"  # the token of the project's own local CRM server, not a secret


@dataclass(frozen=True)
class PostgresSettings:
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    dbname: str = "cdp"

    @property
    def url(self) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class Settings:
    """Where everything lives. Build with `Settings.from_env()` or directly in tests."""

    home: Path
    target: str = "duckdb"
    warehouse_path: Path | None = None
    world_dir: Path | None = None
    landing_dir: Path | None = None
    pos_database_url: str | None = None
    crm_base_url: str = "http://127.0.0.1:8765"
    default_phone_region: str = "US"
    profiles_as_of: str = ""  # ISO-8601; empty: profiles and audiences as of each run's start
    destinations_file: Path = PROJECT_ROOT / "activations" / "destinations.yml"
    retention_file: Path = PROJECT_ROOT / "activations" / "retention.yml"
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    allow_pii_in_metadata: bool = False  # samples of personal values unmasked in metadata, logs, Data Docs
    analyst_role: str = ""  # PostgreSQL: the role granted the masked schema (curated_masked) only

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"CDP_TARGET must be one of {TARGETS}, got {self.target!r}")
        home = Path(self.home).resolve()
        object.__setattr__(self, "home", home)
        world = Path(self.world_dir or home / "sample_world").resolve()
        object.__setattr__(self, "world_dir", world)
        object.__setattr__(self, "warehouse_path", Path(self.warehouse_path or home / "cdp.duckdb").resolve())
        object.__setattr__(self, "landing_dir", Path(self.landing_dir or world / "landing").resolve())
        if self.pos_database_url is None:
            object.__setattr__(self, "pos_database_url", f"sqlite:///{world / 'systems' / 'pos.sqlite'}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("CDP_HOME") or PROJECT_ROOT / "warehouse")
        pg = PostgresSettings(
            host=env.get("CDP_PG_HOST", "127.0.0.1"),
            port=int(env.get("CDP_PG_PORT", "5432")),
            user=env.get("CDP_PG_USER", "postgres"),
            password=env.get("CDP_PG_PASSWORD", ""),
            dbname=env.get("CDP_PG_DBNAME", "cdp"),
        )
        return cls(
            home=home,
            target=env.get("CDP_TARGET", "duckdb"),
            warehouse_path=_path(env.get("CDP_WAREHOUSE_PATH")),
            world_dir=_path(env.get("CDP_WORLD_DIR")),
            landing_dir=_path(env.get("CDP_LANDING_DIR")),
            pos_database_url=env.get("CDP_POS_DATABASE_URL"),
            crm_base_url=env.get("CDP_CRM_BASE_URL", "http://127.0.0.1:8765"),
            default_phone_region=env.get("CDP_DEFAULT_PHONE_REGION", "US"),
            profiles_as_of=env.get("CDP_PROFILES_AS_OF", ""),
            destinations_file=Path(env.get("CDP_DESTINATIONS_FILE") or PROJECT_ROOT / "activations" / "destinations.yml"),
            retention_file=Path(env.get("CDP_RETENTION_FILE") or PROJECT_ROOT / "activations" / "retention.yml"),
            postgres=pg,
            allow_pii_in_metadata=parse_setting(env.get("CDP_ALLOW_PII_IN_METADATA")),
            analyst_role=env.get("CDP_ANALYST_ROLE", ""),
        )

    @property
    def redactor(self) -> Redactor:
        """What reports may show of data values (masked unless CDP_ALLOW_PII_IN_METADATA is on)."""
        return Redactor(allow_samples=self.allow_pii_in_metadata)

    @property
    def pipelines_dir(self) -> Path:
        return self.home / "dlt_pipelines"

    @property
    def crm_db_path(self) -> Path:
        return self.world_dir / "systems" / "crm.sqlite"

    @property
    def crm_seed_dir(self) -> Path:
        return self.world_dir / "systems" / "crm_seed"

    def landing(self, source: str) -> Path:
        return self.landing_dir / source

    def dbt_env(self) -> dict[str, str]:
        """Environment variables the dbt profile reads (see transform/profiles.yml)."""
        return {
            "CDP_TARGET": self.target,
            "CDP_WAREHOUSE_PATH": str(self.warehouse_path),
            "CDP_PG_HOST": self.postgres.host,
            "CDP_PG_PORT": str(self.postgres.port),
            "CDP_PG_USER": self.postgres.user,
            "CDP_PG_PASSWORD": self.postgres.password,
            "CDP_PG_DBNAME": self.postgres.dbname,
            "CDP_DEFAULT_PHONE_REGION": self.default_phone_region,
            "CDP_PROFILES_AS_OF": self.profiles_as_of,
            "CDP_ANALYST_ROLE": self.analyst_role,
        }


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Sets `variables` in `os.environ` while open, then puts back what was there (or nothing)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
