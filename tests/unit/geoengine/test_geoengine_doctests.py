"""The Examples sections of the geoengine docstrings run as doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "geoengine",
    "geoengine.cells",
    "geoengine.covering",
    "geoengine.events",
    "geoengine.events_batch",
    "geoengine.fusion",
    "geoengine.fusion_batch",
    "geoengine.geometry",
    "geoengine.index",
    "geoengine.iplocate",
    "geoengine.prefilter",
    "geoengine.proximity",
    "geoengine.types",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
