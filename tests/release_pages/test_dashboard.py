"""The release dashboard: lots by status with what blocks each one, refreshed by htmx."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import services
from tests import factories
from tests.release_pages.conftest import sign_data, signed_in
from tests.release_pages.test_disposition import text


def test_the_dashboard_shows_lots_by_status_with_their_blockers(
    passing_lot, oos_lot, technician, analyst, qa_signer
):
    testing = factories.lot(technician)
    services.lot_set_status(actor=technician, lot=testing, to="in_testing", reason="To QC")
    client = signed_in(analyst)

    page = client.get(reverse("release:dashboard"))
    html = page.content.decode()
    assert f'hx-get="{reverse("release:dashboard_board")}"' in html
    assert 'hx-trigger="every 5s"' in html
    shown = text(page)
    assert f"{passing_lot.code} made" in shown
    assert "Nothing blocks release: ready for QA's signature." in shown
    assert "2 blockers Endotoxin (< 0.5 EU/mL) fails (OOS)." in shown.replace("&lt;", "<")
    assert "The lot is in testing: only a lot under review can be released." in shown

    signed_in(qa_signer).post(
        reverse("release:lot_review", args=[passing_lot.pk]), sign_data(qa_signer)
    )
    board = client.get(reverse("release:dashboard_board"))
    assert "<html" not in board.content.decode()  # the partial htmx swaps in
    released = board.content.decode().split('data-status="released"')[1]
    assert passing_lot.code in released and "Rita Release" in released and "CoA" in released


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_board_costs_a_bounded_number_of_queries_per_undecided_lot(
    passing_lot, technician, analyst, qa_signer
):
    client = signed_in(analyst)
    url = reverse("release:dashboard_board")
    signed_in(qa_signer).post(
        reverse("release:lot_review", args=[passing_lot.pk]), sign_data(qa_signer)
    )
    client.get(url)
    base = _queries(client, url)
    lots = [factories.lot(technician) for _ in range(3)]
    for lot in lots:
        services.lot_set_status(actor=technician, lot=lot, to="in_testing", reason="To QC")
    client.get(url)  # the first look fixes their specification version
    per_lot = (_queries(client, url) - base) / 3
    assert per_lot <= 25, per_lot
