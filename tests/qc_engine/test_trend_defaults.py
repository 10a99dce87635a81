"""The trend chart takes its limits without typing (issue 12 item 7c): mean and SD from the
approved control baseline, LSL and USL from the effective specification's criterion for the
metric; typed LSL/USL override the specification's."""

import re

import pytest
from django.urls import reverse

from release.specifications import (
    metric_specification_limits,
    specification_approve,
    specification_make_effective,
)
from tests.qc_engine.conftest import chart_figure, shapes_by_name
from tests.qc_engine.test_control_baselines import (
    CODE,
    approve,
    baseline_lots,  # noqa: F401  (fixture)
    propose,
)
from tests.release.helpers import draft_specification, signer_for

BACKEND = "django.contrib.auth.backends.ModelBackend"


def effective_protein_limits(qa, **limits):
    """An effective drug-substance specification whose protein criterion has `limits`."""
    draft = draft_specification(qa, limits={CODE: limits})
    spec = specification_approve(signer=signer_for(qa, "approval"), specification=draft)
    return specification_make_effective(actor=qa, specification=spec)


def _trend(client, user, **params):
    client.force_login(user, backend=BACKEND)
    response = client.get(reverse("qc:trends"), {"code": CODE, **params})
    assert response.status_code == 200
    return response


def test_the_specification_gives_a_metrics_limits(qa_user):
    assert metric_specification_limits(CODE) is None  # "report" in the installed version
    spec = effective_protein_limits(
        qa_user, comparator="between", lower=80.0, upper=130.0, unit="ug/mL"
    )
    limits = metric_specification_limits(CODE)
    assert (limits["lsl"], limits["usl"], limits["unit"]) == (80.0, 130.0, "ug/mL")
    assert str(spec) in limits["source"] and limits["url"] == spec.get_absolute_url()

    effective_protein_limits(qa_user, comparator="gte", lower=50.0, upper=None, unit="ug/mL")
    assert (metric_specification_limits(CODE)["lsl"], metric_specification_limits(CODE)["usl"]) == (
        50.0,
        None,
    )
    assert metric_specification_limits("no.such_metric") is None


def test_the_chart_takes_the_specification_limits_and_typed_ones_override(
    client,
    qa_user,
    analyst,
    baseline_lots,  # noqa: F811
):
    spec = effective_protein_limits(
        qa_user, comparator="between", lower=80.0, upper=130.0, unit="ug/mL"
    )

    response = _trend(client, analyst)
    shapes = shapes_by_name(chart_figure(response, "trend"))
    assert shapes["LSL"]["y0"] == pytest.approx(80.0)
    assert shapes["USL"]["y0"] == pytest.approx(130.0)
    html = response.content.decode()
    source = re.search(r'id="spec-limits-source">(.*?)</div>', html, re.S).group(1)
    assert spec.get_absolute_url() in source and "overrides them" in source
    assert 'placeholder="80 (spec)"' in html and 'placeholder="130 (spec)"' in html
    assert 'id="capability"' in html  # Ppk from the specification's limits, untyped

    typed = _trend(client, analyst, lsl=70, usl=140)
    shapes = shapes_by_name(chart_figure(typed, "trend"))
    assert (shapes["LSL"]["y0"], shapes["USL"]["y0"]) == (pytest.approx(70.0), pytest.approx(140.0))
    assert "LSL and USL as typed on the form" in typed.content.decode()


def test_the_specification_limits_are_converted_into_the_metrics_unit(
    client,
    qa_user,
    analyst,
    baseline_lots,  # noqa: F811
):
    effective_protein_limits(qa_user, comparator="between", lower=0.08, upper=0.13, unit="mg/mL")
    shapes = shapes_by_name(chart_figure(_trend(client, analyst), "trend"))
    assert shapes["LSL"]["y0"] == pytest.approx(80.0)  # µg/mL, the metric's unit
    assert shapes["USL"]["y0"] == pytest.approx(130.0)


def test_a_specification_in_an_unconvertible_unit_gives_no_limits(
    client,
    qa_user,
    analyst,
    baseline_lots,  # noqa: F811
):
    effective_protein_limits(qa_user, comparator="between", lower=1.0, upper=2.0, unit="EU/mL")
    response = _trend(client, analyst)
    shapes = shapes_by_name(chart_figure(response, "trend"))
    assert "LSL" not in shapes and "USL" not in shapes  # never a limit in the wrong unit
    assert 'id="spec-limits-source"' not in response.content.decode()


def test_without_a_specification_limit_no_limits_are_invented(
    client,
    analyst,
    baseline_lots,  # noqa: F811
):
    response = _trend(client, analyst)
    shapes = shapes_by_name(chart_figure(response, "trend"))
    assert "LSL" not in shapes and "USL" not in shapes
    assert 'id="spec-limits-source"' not in response.content.decode()


def test_mean_and_sd_come_from_the_approved_baseline_untyped(
    client,
    qa_user,
    analyst,
    baseline_lots,  # noqa: F811
):
    baseline = approve(qa_user, propose(analyst))
    baseline.refresh_from_db()
    response = _trend(client, analyst)
    shapes = shapes_by_name(chart_figure(response, "trend"))
    assert shapes["mean"]["y0"] == pytest.approx(baseline.mean)
    html = response.content.decode()
    assert f'placeholder="{baseline.mean:.6g} (baseline)"' in html
    assert f'placeholder="{baseline.sd:.4g} (baseline)"' in html
