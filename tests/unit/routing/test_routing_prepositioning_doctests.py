"""The Examples sections of the pre-positioning docstrings run as doctests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["routing.demand", "routing.forecast", "routing.stock", "routing.replay"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
