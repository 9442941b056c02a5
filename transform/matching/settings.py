"""Settings of probabilistic matching, read from `vars.identity.probabilistic` in dbt_project.yml.

dbt_project.yml is the one place identity rules are configured; dbt reads it through `var()`,
this module reads the same keys with a YAML parser. Only `auto_merge` and `review` are
required; the rest tune cost and have defaults that suit millions of candidates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from transform.project import ProjectConfigError, project_var

CONFIG_PATH = "vars.identity.probabilistic"


class MatchSettingsError(ValueError):
    """The probabilistic-matching configuration is missing or out of range."""


@dataclass(frozen=True)
class MatchSettings:
    """Thresholds and training knobs of the Splink model.

    auto_merge: pairs with match probability >= this link customers without review.
    review: pairs in [review, auto_merge) go to the review queue; lower pairs are not kept.
    seed: picks the (deterministic) record sample used to estimate u probabilities.
    u_max_pairs: record pairs compared to estimate u (the sample has ~sqrt(2 * this) records).
    max_block_size: a blocking key value shared by more records than this does not block
        (a shared family phone or a junk value must not explode the pair count).
    em_max_iterations: bound on expectation-maximisation iterations per training session.
    fragment_share: the share of entities (components, or candidates without one) that are a
        piece of a person found in another entity; sets the prior of the scored pairs.
    """

    auto_merge: float = 0.99
    review: float = 0.80
    seed: int = 42
    u_max_pairs: int = 1_000_000
    max_block_size: int = 200
    em_max_iterations: int = 25
    fragment_share: float = 0.2

    def __post_init__(self) -> None:
        for name in ("auto_merge", "review"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise MatchSettingsError(f"{CONFIG_PATH}.{name} must be a number, got {value!r}")
        if not 0 < self.review <= 1:
            raise MatchSettingsError(f"{CONFIG_PATH}.review must be in (0, 1], got {self.review!r}")
        if not 0 < self.auto_merge <= 1:
            raise MatchSettingsError(f"{CONFIG_PATH}.auto_merge must be in (0, 1], got {self.auto_merge!r}")
        if self.review > self.auto_merge:
            raise MatchSettingsError(
                f"{CONFIG_PATH}.review ({self.review}) must not exceed {CONFIG_PATH}.auto_merge ({self.auto_merge})"
            )
        if isinstance(self.fragment_share, bool) or not isinstance(self.fragment_share, (int, float)) or not (
            0 < self.fragment_share <= 1
        ):
            raise MatchSettingsError(f"{CONFIG_PATH}.fragment_share must be in (0, 1], got {self.fragment_share!r}")
        for name in ("seed", "u_max_pairs", "max_block_size", "em_max_iterations"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise MatchSettingsError(f"{CONFIG_PATH}.{name} must be a positive integer, got {value!r}")

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> MatchSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise MatchSettingsError(f"unknown key(s) in {CONFIG_PATH}: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        for required in ("auto_merge", "review"):
            if required not in config:
                raise MatchSettingsError(f"{CONFIG_PATH}.{required} is missing")
        return cls(**{k: _number(k, v) for k, v in config.items()})

    @classmethod
    def from_dbt_project(cls, path: Path | str | None = None) -> MatchSettings:
        """The settings in dbt_project.yml (default: the project's own)."""
        try:
            config = project_var(CONFIG_PATH.removeprefix("vars."), path)
        except ProjectConfigError as exc:
            raise MatchSettingsError(str(exc)) from exc
        return cls.from_mapping(config)


def _number(key: str, value: Any) -> Any:
    """YAML gives numbers already; a quoted number is accepted, anything else left for validation."""
    if isinstance(value, str):
        try:
            return int(value) if value.strip().lstrip("-").isdigit() else float(value)
        except ValueError:
            raise MatchSettingsError(f"{CONFIG_PATH}.{key} must be a number, got {value!r}") from None
    return value


def load_settings(path: Path | str | None = None) -> MatchSettings:
    return MatchSettings.from_dbt_project(path)
