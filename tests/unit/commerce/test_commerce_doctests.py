"""The Examples sections of the commerce docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import commerce

MODULES = sorted(m.name for m in pkgutil.iter_modules(commerce.__path__, "commerce."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
