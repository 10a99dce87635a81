"""`manage.py qc_validate`: the operational-qualification table, and its exit status."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assays.qc import worked_examples


def test_qc_validate_prints_a_pass_row_for_every_worked_example():
    out = StringIO()

    call_command("qc_validate", stdout=out)

    text = out.getvalue()
    header, rule, *rows, summary = text.strip().splitlines()
    assert header.split() == ["Case", "Reference", "Expected", "Computed", "Tolerance", "Result"]
    assert len(rows) == len(worked_examples.CASES)
    assert all(row.rstrip().endswith("PASS") for row in rows)
    assert "FAIL" not in text
    assert any(row.startswith("qPCR RQ = 2^-ΔΔCt") and " 4 " in row for row in rows)
    assert summary == f"{len(rows)} of {len(rows)} worked examples passed."


def test_qc_validate_json_lists_every_case():
    out = StringIO()

    call_command("qc_validate", "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert report["failed"] == 0 and report["passed"] == len(worked_examples.CASES)
    westgard = next(c for c in report["cases"] if c["case"] == "Westgard multirule flags")
    assert westgard["computed"] == westgard["expected"] and westgard["tolerance"] is None


def test_a_broken_case_makes_qc_validate_fail_with_a_non_zero_exit(monkeypatch):
    real = next(c for c in worked_examples.CASES if c.name == "Capability Cpk")
    broken = worked_examples.WorkedExample(
        "Capability Cpk", "wrong on purpose", 0.9, 5e-4, real.compute
    )
    cases = [broken if c.name == "Capability Cpk" else c for c in worked_examples.CASES]
    monkeypatch.setattr(worked_examples, "CASES", cases)
    out = StringIO()

    with pytest.raises(CommandError, match="1 worked example") as failure:
        call_command("qc_validate", stdout=out)

    assert failure.value.returncode == 1
    failed = [row for row in out.getvalue().splitlines() if row.rstrip().endswith("FAIL")]
    assert len(failed) == 1 and failed[0].startswith("Capability Cpk")


def test_an_exception_in_a_case_is_a_failure_not_a_crash(monkeypatch):
    def explode():
        raise ZeroDivisionError("boom")

    broken = worked_examples.WorkedExample("Exploding", "test", 1.0, 0.0, explode)
    monkeypatch.setattr(worked_examples, "CASES", [broken])
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("qc_validate", "--json", stdout=out)

    (case,) = json.loads(out.getvalue())["cases"]
    assert case["passed"] is False and "boom" in case["computed"]


def test_qc_validate_checks_the_configured_qpcr_analysis():
    # Issue 10 item 6: the RQ as the assay definition configures it (assays.qc.qpcr_analysis)
    # on the real QuantStudio Cts, Pfaffl at E = 2 equal to 2^-ΔΔCt, a run's standard curve.
    out = StringIO()

    call_command("qc_validate", "--json", stdout=out)

    cases = {c["case"]: c for c in json.loads(out.getvalue())["cases"]}
    configured = cases[
        "qPCR RQ as the assay configures it, real QuantStudio Cts (TARGET_1 95 %, U6 100 %)"
    ]
    assert configured["passed"] and abs(configured["computed"] - 0.617110) < 1e-6
    livak = cases["qPCR RQ configured at E = 2 is 2^-ΔΔCt, real QuantStudio Cts (2^-0.725)"]
    assert livak["passed"] and abs(livak["computed"] - 2**-0.725) < 1e-9
    assert cases["qPCR efficiency from a run's standard curve by wells, slope -3.3219 (%)"][
        "passed"
    ]
