"""How the application's connections to PostgreSQL are set up."""

import pytest
from django.db import connection


@pytest.mark.django_db
def test_every_connection_runs_without_jit():
    # lims.settings turns PostgreSQL's JIT off per connection: it slowed this app's queries.
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
