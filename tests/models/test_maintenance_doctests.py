"""The examples in the maintenance models' docstrings hold."""

from __future__ import annotations

import doctest

import pytest

from models.maintenance import onsite, risk, score


@pytest.mark.parametrize("module", [score, risk, onsite], ids=lambda m: m.__name__)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module, verbose=False)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0
