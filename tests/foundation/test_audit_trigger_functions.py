"""The two functions every audit trigger calls once per row (lims.db_roles): the same answers as
django-pghistory's and django-pgtrigger's originals, read without an EXCEPTION block, whose
rolled-back subtransaction per row made a bulk insert quadratic in its own size (issue 14 item 4).
"""

import re
import uuid

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _one(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def _set(name, value):
    _one("SELECT set_config(%s, %s, true)", [name, value])


def test_no_context_attaches_nothing_and_a_context_is_recorded_once():
    _set("pghistory.context_id", "")
    _set("pghistory.context_metadata", "")
    assert _one("SELECT public._pgh_attach_context()") is None

    context = uuid.uuid4()
    _set("pghistory.context_id", str(context))
    assert _one("SELECT public._pgh_attach_context()") is None  # an id without metadata
    _set("pghistory.context_metadata", '{"reason": "Run recorded"}')
    assert _one("SELECT public._pgh_attach_context()") == context
    assert _one("SELECT public._pgh_attach_context()") == context
    assert _one("SELECT metadata->>'reason' FROM pghistory_context WHERE id = %s", [context]) == (
        "Run recorded"
    )


def test_the_owner_ignore_switch_reads_the_same():
    name = "pgtrigger_never_deleted_6bc6a"
    _set("pgtrigger.ignore", "")
    assert _one("SELECT public._pgtrigger_should_ignore(%s)", [name]) is False
    _set("pgtrigger.ignore", "{}")
    assert _one("SELECT public._pgtrigger_should_ignore(%s)", [name]) is False
    _set("pgtrigger.ignore", f"{{other,{name}}}")
    assert _one("SELECT public._pgtrigger_should_ignore(%s)", [name]) is True


@pytest.mark.parametrize("function", ["_pgh_attach_context", "_pgtrigger_should_ignore"])
def test_the_installed_functions_open_no_subtransaction_per_row(function):
    """After migrate the project's versions are the ones installed (pghistory and pgtrigger each
    reinstall theirs on migrate; lims.apps re-installs these after them)."""
    source = _one("SELECT prosrc FROM pg_proc WHERE proname = %s", [function])
    assert not re.search(r"\bEXCEPTION\s+WHEN\b", source, re.IGNORECASE)
