"""The settings the test suite runs with ([tool.pytest.ini_options] in pyproject.toml).

lims.settings keeps DEBUG off unless it is explicitly on, and with it off refuses to start
without production secrets, hosts and database. The tests run on a developer's machine or CI
(the embedded PostgreSQL or DATABASE_URL) with the development defaults, so DEBUG is turned on
here, before lims.settings reads it, unless the environment already says. pytest-django then
runs every test with settings.DEBUG False, as production does; processes the tests start
inherit the variable.
"""

import os

os.environ.setdefault("DEBUG", "True")

from lims.settings import *  # noqa: E402, F403
