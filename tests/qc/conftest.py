"""tests/qc needs neither Django nor a database: assays.qc imports NumPy and SciPy only.

The project-wide autouse fixture ``_eager_celery`` (tests/conftest.py) requests pytest-django's
``settings`` fixture, which does not exist under ``pytest -p no:django``. Overriding it here,
by name and closer in scope, keeps ``pytest tests/qc -p no:django`` working; nothing in this
package enqueues Celery tasks.
"""

import pytest


@pytest.fixture(autouse=True)
def _eager_celery():
    yield
