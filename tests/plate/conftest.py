"""Plate tests: the pure ones need no database (see tests/qc/conftest.py for why this exists)."""

import pytest

from tests import factories


@pytest.fixture
def lot(technician):
    return factories.lot(technician)
