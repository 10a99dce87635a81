"""The settings the django-stubs mypy plugin imports ([tool.django-stubs] in pyproject.toml).

They are lims.settings, except that without DATABASE_URL those would start the embedded
PostgreSQL, and mypy exits without running the hook that stops it. A placeholder URL is parsed,
never connected to. DEBUG is on (development defaults), as without it the settings would ask
for production secrets.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://typecheck@127.0.0.1:1/not-connected")
os.environ.setdefault("DEBUG", "True")

from lims.settings import *  # noqa: E402, F403
