"""A list's last page costs what its first does, and holds the same rows an OFFSET would give.

Pages past the middle are read backwards (lims.pages.NearerEndPaginator): without that, the
last page of 100,000 vials made PostgreSQL produce and discard 99,975 joined rows (issue 14).
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import services
from batches.models import Aliquot
from tests import factories

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
PER_PAGE = 25

# Sorts with ties (lot, volume, freezer) and NULLs (vials without a position): only the
# primary key at the end of the ordering makes the reversed read the mirror image.
SORTS = ["barcode", "-barcode", "lot__code", "-lot__code", "volume_ul", "-location__freezer"]


@pytest.fixture
def vials(technician):
    """64 vials of two lots, 6 of them without a position."""
    for volume, placed in ((Decimal("100"), 30), (Decimal("50"), 28)):
        lot = factories.lot(technician)
        positions = factories.storage_positions(technician, placed, box=f"DP{volume}")
        services.aliquots_create(
            actor=technician, lot=lot, volume_ul=volume, locations=[*positions, None, None, None]
        )
    assert Aliquot.objects.count() == 64  # pages of 25, 25 and 14


def _page(client, sort, page):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("batches:aliquot_list"), {"sort": sort, "page": page})
    assert response.status_code == 200
    return [a.pk for a in response.context["object_list"]], [q["sql"] for q in queries]


@pytest.mark.parametrize("sort", SORTS)
def test_every_page_holds_the_rows_of_the_ordering_in_order(client, technician, vials, sort):
    client.force_login(technician, backend=BACKEND)
    expected = list(Aliquot.objects.order_by(sort, "pk").values_list("pk", flat=True))
    for number in (1, 2, 3):
        rows, _ = _page(client, sort, number)
        assert rows == expected[(number - 1) * PER_PAGE : number * PER_PAGE], number
    rows, _ = _page(client, sort, "last")
    assert rows == expected[2 * PER_PAGE :]


def test_the_last_page_costs_the_first_pages_queries_and_skips_no_rows(client, technician, vials):
    client.force_login(technician, backend=BACKEND)
    _page(client, "barcode", 1)  # warm per-process caches
    _, first = _page(client, "barcode", 1)
    _, last = _page(client, "barcode", "last")
    assert len(last) == len(first), "\n".join(["first:", *first, "last:", *last])
    # The 14 rows of the last page are the first 14 of the reversed ordering: no OFFSET 50.
    assert not [sql for sql in last if "OFFSET" in sql], last


def test_page_links_reach_the_first_and_the_last_page(client, technician, vials):
    client.force_login(technician, backend=BACKEND)
    html = client.get(reverse("batches:aliquot_list"), {"sort": "-lot__code", "page": 2})
    html = html.content.decode()
    assert "sort=-lot__code&page=1" in html
    assert "sort=-lot__code&page=last" in html
    assert "Page 2 of 3" in html
