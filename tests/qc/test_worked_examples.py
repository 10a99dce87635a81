import math

from assays.qc.worked_examples import CASES, run_all


def test_every_worked_example_passes():
    failures = [r for r in run_all() if not r.passed]
    assert failures == []


def test_cases_are_named_referenced_and_toleranced():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    for case in CASES:
        assert case.reference
        if isinstance(case.expected, str):
            assert case.tolerance is None
        else:
            assert case.tolerance is not None and math.isfinite(case.tolerance)


def test_cases_cover_every_domain_worked_example():
    text = " ".join(case.name for case in CASES).lower()
    for topic in ("ryegrass", "residual se", "westgard", "cp", "cpk", "k/m", "δδct", "rq"):
        assert topic in text, topic
    for topic in ("inhibition", "fold induction", "m2/m1", "nta"):
        assert topic in text, topic


def test_a_failing_case_is_reported_not_raised():
    from assays.qc.worked_examples import WorkedExample, run_case

    def broken():
        raise ZeroDivisionError("boom")

    result = run_case(WorkedExample("broken", "test", 1.0, 0.1, broken))
    assert not result.passed and "boom" in result.computed
    off = run_case(WorkedExample("off", "test", 1.0, 0.1, lambda: 1.2))
    assert not off.passed and off.computed == 1.2
