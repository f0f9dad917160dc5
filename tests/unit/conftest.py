"""Fixtures of the service-layer tests: a city in a real SQLite event store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.handler_world import World


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.establish_city()
    return w


@pytest.fixture
def founders(world: World) -> tuple:
    return world.founder(), world.founder()
