"""Shared fixtures: a small generated world and settings pointing into a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestration.settings import Settings

SMALL_WORLD_PEOPLE = 300
SMALL_WORLD_SEED = 11


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps `--dist loadgroup` grouping on pytest 9. pytest-xdist marks an item's group by
    appending `@<group>` to `item._nodeid`, which pytest 9 no longer reads (a node id is now a
    `NodeId`), so every test of the end-to-end module went to either worker and each worker ran
    the platform once. Appending the group through the id pytest 9 keeps puts the module back on
    one worker, with one platform run."""
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # an older pytest reads xdist's suffix itself
        return
    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})
        if groups and hasattr(item, "_id") and not item.nodeid.endswith("@" + "_".join(groups)):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")  # noqa: SLF001 - see above


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
