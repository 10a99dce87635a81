"""List pages whose cost followed the whole history rather than the page (issue 14): the lots
list counted every vial before taking its 25 lots, and the culture batches' filter offered every
cell bank as an <option>. Each now costs the same however many rows lie beyond the page."""

import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import services
from batches.models import ExosomeLot
from batches.views import ExosomeLotList
from tests import factories

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _lots_with_vials(actor, lots: int, vials: int) -> list[ExosomeLot]:
    made = [factories.lot(actor) for _ in range(lots)]
    for lot in made:
        services.aliquots_create(
            actor=actor, lot=lot, volume_ul=Decimal("50"), locations=[None] * vials
        )
    return made


def _page(client, url, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return response, [q["sql"] for q in ctx.captured_queries]


def test_lots_list_counts_the_vials_of_the_lots_shown_only(client, technician, make_user):
    client.force_login(make_user("qa"), backend=BACKEND)
    url = reverse("batches:exosomelot_list")
    _lots_with_vials(technician, lots=2, vials=2)
    client.get(url)  # warm per-process caches
    _, few = _page(client, url)
    _lots_with_vials(technician, lots=28, vials=6)
    response, many = _page(client, url)

    assert len(few) == len(many), "\n".join(["--- few:", *few, "--- many:", *many])
    # No join of the vials (a GROUP BY over every vial of every lot, then LIMIT 25).
    joins = [sql for sql in many if re.search(r'JOIN "batches_aliquot"', sql)]
    assert not joins, joins
    shown = response.context["object_list"]
    assert len(shown) == 25
    assert all(lot.vial_count == 6 for lot in shown)


def _vial_rows_read(plan: dict) -> int:
    """Rows read from the vials table by every node of the plan, times the node's loops."""
    read = 0
    if plan.get("Relation Name") == "batches_aliquot":
        read += plan["Actual Rows"] * plan["Actual Loops"]
    return read + sum(_vial_rows_read(child) for child in plan.get("Plans", []))


def test_the_vial_count_reads_the_vials_of_the_page_only(technician):
    """The property itself, in PostgreSQL's plan: with 40 lots of 2 vials, the page of 25
    reads their 50 vials (the count evaluated after the LIMIT), not all 80."""
    _lots_with_vials(technician, lots=40, vials=2)
    view = ExosomeLotList()
    view.setup(RequestFactory().get(reverse("batches:exosomelot_list")))
    page = view.annotate(ExosomeLot.objects.all()).order_by("-created_at", "pk")[:25]
    sql, params = page.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert _vial_rows_read(plan[0]["Plan"]) == 50, json.dumps(plan, indent=1)


def test_lots_list_sorted_by_vial_count_both_ways(client, technician, make_user):
    client.force_login(make_user("qa"), backend=BACKEND)
    url = reverse("batches:exosomelot_list")
    empty = factories.lot(technician)
    for lot, vials in zip(_lots_with_vials(technician, lots=3, vials=1), (1, 3, 2), strict=True):
        if vials > 1:
            services.aliquots_create(
                actor=technician, lot=lot, volume_ul=Decimal("50"), locations=[None] * (vials - 1)
            )
    ascending, _ = _page(client, url, {"sort": "vial_count"})
    counts = [lot.vial_count for lot in ascending.context["object_list"]]
    assert counts == [0, 1, 2, 3]
    assert ascending.context["object_list"][0] == empty
    descending, _ = _page(client, url, {"sort": "-vial_count"})
    assert [lot.vial_count for lot in descending.context["object_list"]] == [3, 2, 1, 0]


# --- Culture batches: the cell bank typed, not chosen from every bank ---------------------------


def test_culture_batches_filter_does_not_list_every_cell_bank(client, technician, make_user):
    client.force_login(make_user("qa"), backend=BACKEND)
    url = reverse("batches:culturebatch_list")
    factories.culture_batch(technician)
    client.get(url)
    few, few_sql = _page(client, url)
    for _ in range(10):
        factories.cell_bank(technician)
    many, many_sql = _page(client, url)

    assert len(few_sql) == len(many_sql)
    html = many.content.decode()
    field = re.search(r'<(\w+)[^>]*name="cell_bank"', html)
    assert field and field.group(1) == "input", "the cell bank is typed, not a <select>"
    assert html.count("<option") == few.content.decode().count("<option")


def test_culture_batches_filtered_by_bank_code_find_that_banks_batches(
    client, technician, make_user
):
    client.force_login(make_user("qa"), backend=BACKEND)
    url = reverse("batches:culturebatch_list")
    bank = factories.cell_bank(technician)
    mine = [factories.culture_batch(technician, cell_bank=bank) for _ in range(2)]
    factories.culture_batch(technician)  # another bank's batch

    for typed in (bank.code, bank.code.lower(), f"  {bank.code} "):
        response, _ = _page(client, url, {"cell_bank": typed})
        assert set(response.context["object_list"]) == set(mine), typed
        assert f'value="{bank.code}"' in response.content.decode() or typed != bank.code

    response, _ = _page(client, url, {"cell_bank": "NO-SUCH-BANK"})
    assert list(response.context["object_list"]) == []
    assert response.context["filter"].errors["cell_bank"] == [
        "No cell bank has the code “NO-SUCH-BANK”."
    ]
    assert "No cell bank has the code" in response.content.decode()


def test_api_culture_batches_filtered_by_bank_code(client, technician, make_user):
    client.force_login(make_user("qa"), backend=BACKEND)
    bank = factories.cell_bank(technician)
    mine = factories.culture_batch(technician, cell_bank=bank)
    factories.culture_batch(technician)
    response = client.get("/api/v1/culture-batches/", {"cell_bank": bank.code})
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert [row["code"] for row in rows] == [mine.code]
    assert rows[0]["cell_bank"] == bank.code
    refused = client.get("/api/v1/culture-batches/", {"cell_bank": "NO-SUCH-BANK"})
    assert refused.status_code == 400
    assert "No cell bank has the code" in refused.content.decode()
