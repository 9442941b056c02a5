"""Shared fixtures: a small generated world and settings pointing into a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestration.settings import Settings

SMALL_WORLD_PEOPLE = 300
SMALL_WORLD_SEED = 11


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-person world generated once per test session (and worker); treat it as read-only."""
    from dlt_sources.sample_world import generate_world

    world = tmp_path_factory.mktemp("world")
    generate_world(world, people=SMALL_WORLD_PEOPLE, seed=SMALL_WORLD_SEED)
    return world


@pytest.fixture
def world_copy(small_world: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the small world."""
    copy = tmp_path / "world"
    shutil.copytree(small_world, copy)
    return copy


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", world_dir=tmp_path / "world")
