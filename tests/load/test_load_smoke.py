"""The load script itself works: a short run against gunicorn and a real worker, no errors.
The figures in the README come from a full run (`python -m tests.load.run_load`)."""

import pytest

from tests.load import run_load

pytestmark = pytest.mark.serial


def test_a_short_load_has_no_errors():
    report = run_load.main(["--clients", "1,3", "--seconds", "5"])
    for phase in report["phases"]:
        assert phase["requests"] > 0, phase
        assert phase["errors"] == 0, phase["first_errors"]
