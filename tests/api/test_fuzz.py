"""Generated bodies for POST /api/v1/runs/ and /runs/asm/: a JSON refusal, never a 500."""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=50)
    | st.sampled_from(["", "\x00", "\ud800", "1e400", "NaN", "mg/mL", "10^9999 nm", "µg/mL"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def result_items(sample: str):
    field = lambda known: st.sampled_from(known) | json_values  # noqa: E731
    return st.fixed_dictionaries(
        {},
        optional={
            "sample": field([sample, "EXO-1999-0001", " " + sample]),
            "analyte": field(["protein", "absorbance", "nope"]),
            "value": field([0.12, -1, 1e308, 10**30]),
            "unit": field(["mg/mL", "ug/mL", "nm", "", "%"]),
            "text_value": json_values,
            "qualifier": field(["<LLOQ", ">ULOQ", "x" * 11]),
            "replicate": json_values,
            "well": field(["A1", "H12", "WELL-TOO-LONG"]),
            "target": json_values,
            "flags": st.lists(json_values, max_size=3) | json_values,
        },
    )


def run_bodies(sample: str):
    field = lambda known: st.sampled_from(known) | json_values  # noqa: E731
    return st.fixed_dictionaries(
        {},
        optional={
            "assay": field(["BCA", "NTA", "VIABILITY", "bca"]),
            "started_at": field(
                ["2026-01-01T10:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
            ),
            "ended_at": field(["2026-01-01T09:00:00Z", None]),
            "external_id": json_values,
            "reagent_lots": st.lists(st.integers(min_value=-5, max_value=10**20), max_size=3)
            | json_values,
            "retest_of": field([1, 0, -1, 10**25]),
            "results": st.lists(result_items(sample), max_size=4) | json_values,
        },
    )


def _assert_refused_in_json(response):
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"code", "message", "errors"}
        assert isinstance(body["code"], str) and body["code"]


def test_generated_run_bodies_never_give_a_500(client_for_key, lot):
    @FUZZ
    @given(body=run_bodies(lot.code) | json_values)
    def post(body):
        payload = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
        response = client_for_key.generic(
            "POST", "/api/v1/runs/", payload, content_type="application/json"
        )
        _assert_refused_in_json(response)

    post()


def test_generated_bytes_never_give_a_500(client_for_key):
    @FUZZ
    @given(payload=st.binary(max_size=200))
    def post(payload):
        response = client_for_key.generic(
            "POST", "/api/v1/runs/", payload, content_type="application/json"
        )
        _assert_refused_in_json(response)

    post()


def test_generated_asm_documents_never_give_a_500(client_for_key, culture_batch):
    url = f"/api/v1/runs/asm/?assay=VIABILITY&sample={culture_batch.code}"
    measurement = st.fixed_dictionaries(
        {},
        optional={
            "viability (cell counter)": st.fixed_dictionaries(
                {"value": json_values, "unit": st.sampled_from(["%", "nm", "", "x" * 50])}
            ),
            "sample document": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
        },
    )
    document = st.fixed_dictionaries(
        {
            "cell counting aggregate document": st.fixed_dictionaries(
                {
                    "cell counting document": st.lists(
                        st.fixed_dictionaries(
                            {
                                "measurement aggregate document": st.fixed_dictionaries(
                                    {"measurement document": st.lists(measurement, max_size=3)}
                                )
                            }
                        ),
                        max_size=2,
                    )
                }
            )
        }
    )

    @FUZZ
    @given(body=document | json_values)
    def post(body):
        payload = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
        response = client_for_key.generic("POST", url, payload, content_type="application/json")
        _assert_refused_in_json(response)

    post()
