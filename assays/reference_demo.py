"""Demo data of the reference standards (issue 13), called from ``release.demo.seed_demo``: an
in-house reference EV lot qualified by QA, a second one awaiting qualification, and a
relative-potency run of a lot against the qualified one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
from django.utils import timezone

from assays import services
from assays.inputs import ResultInput
from assays.reference_models import ReferenceStandard
from assays.reference_services import reference_qualify, reference_register
from lims.roles import ANALYST, QA

# A TNF-α dose series as a plate reads it: 8 two-fold doses (µg/mL of EV protein), duplicate
# wells, response falling from the LPS level to the inhibited floor (4PL, b = 1.2). The lot is
# 1.25 times as potent as the reference (EC50 1.6 vs 2.0 µg/mL); a fixed ±2 % well-to-well
# scatter stands in for the plate's noise.
DOSES = [0.125 * 2**i for i in range(8)]
_NOISE = [0.012, -0.018, 0.007, -0.004, 0.015, -0.011, 0.003, -0.016]


def dose_series(ec50: float, *, top: float = 1000.0, bottom: float = 150.0, slope: float = 1.2):
    """(doses, responses) of duplicate wells of a preparation with the given EC50."""
    x = np.repeat(DOSES, 2)
    y = bottom + (top - bottom) / (1 + (x / ec50) ** slope)
    noise = np.array([n * (1 if i % 2 else -1) for n in _NOISE for i in range(2)])
    return [float(v) for v in x], [round(float(v), 1) for v in y * (1 + noise)]


def relative_potency_results(sample: str, *, test_ec50: float = 1.6) -> list[ResultInput]:
    """The results of a POTENCY-RP run of ``sample``: both dose series (the target of each
    well's result is its dose) and the single-dose wells of the % inhibition."""
    results = [
        ResultInput(sample=sample, analyte="tnf_ev", value=520.0, unit="pg/mL"),
        ResultInput(sample=sample, analyte="tnf_lps", value=1000.0, unit="pg/mL"),
        ResultInput(sample=sample, analyte="tnf_unstimulated", value=100.0, unit="pg/mL"),
    ]
    for analyte, ec50 in (("tnf_reference", 2.0), ("tnf_test", test_ec50)):
        doses, responses = dose_series(ec50)
        for i, (dose, response) in enumerate(zip(doses, responses, strict=True)):
            results.append(
                ResultInput(
                    sample=sample,
                    analyte=analyte,
                    value=response,
                    unit="pg/mL",
                    target=f"{dose:g}",
                    replicate=str(i % 2 + 1),
                )
            )
    return results


def seed_reference_demo(users: dict[str, Any], lots: list[Any], *, signer: Callable) -> None:
    """Two in-house reference lots of EV-RS (one qualified by QA, one awaiting it) and a
    POTENCY-RP run of ``lots[1]`` against the qualified one."""
    analyst, qa = users[ANALYST], users[QA]
    today = timezone.localdate()
    common: dict[str, Any] = {
        "material": "EV-RS",
        "kind": ReferenceStandard.Kind.IN_HOUSE,
        "source_lot": lots[0],
        "assay_codes": ["POTENCY-RP"],
        "assigned_values": [{"analyte": "potency", "value": 100.0, "unit": "percent"}],
        "storage": "-80 °C, freezer ULT-2, rack R9, box REF-1 (100 µL vials)",
    }
    reference = reference_register(
        actor=analyst,
        code="RS-EV-2026-01",
        name="In-house reference EV lot, primary",
        expiry_date=today + timedelta(days=365),
        qualification_report="QP-REF-001 / QR-REF-001",
        **common,
    )
    reference_qualify(
        signer=signer(qa, "approval"),
        reference=reference,
        comment="Qualified: identity, NTA, BCA and potency per QP-REF-001.",
    )
    reference_register(
        actor=analyst,
        code="RS-EV-2026-02",
        name="In-house reference EV lot, replacement (awaiting QA)",
        expiry_date=today + timedelta(days=540),
        qualification_report="QP-REF-002 (in progress)",
        **common,
    )
    services.run_record(
        actor=analyst,
        assay_code="POTENCY-RP",
        source="manual",
        results=relative_potency_results(lots[1].code),
        started_at=timezone.now(),
        reference_standard=reference,
    )
