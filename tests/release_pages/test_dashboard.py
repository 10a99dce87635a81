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


def _open_oos(actor, lot, n):
    from release import deviations

    for i in range(n):
        deviations.deviation_open(
            actor=actor,
            kind="oos",
            title=f"OOS {i + 1}",
            description="Result out of specification",
            lot=lot,
        )


def test_every_lot_not_yet_decided_is_on_the_board_a_lot_in_process_with_open_oos_first(
    technician, analyst
):
    """A lot with three open OOS investigations that nobody moved out of "in process" was on
    no column: now every lot not released or rejected has one, those with an open deviation
    at the top of theirs."""
    waiting = [factories.lot(technician) for _ in range(3)]
    troubled = factories.lot(technician)
    _open_oos(analyst, troubled, 3)

    page = signed_in(analyst).get(reverse("release:dashboard_board"))

    column = page.content.decode().split('data-status="in_process"')[1].split("</section>")[0]
    assert "In process" in page.content.decode()
    codes = [lot.code for lot in (troubled, *waiting)]
    assert all(code in column for code in codes)
    assert column.index(troubled.code) < min(column.index(lot.code) for lot in waiting)
    assert "OOS investigation" in column and "is open" in column


def _board_queries(client, django_assert_max_num_queries, limit=None):
    url = reverse("release:dashboard_board")
    if limit is None:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200
    return limit


def test_the_board_costs_the_same_queries_however_many_lots(
    passing_lot, oos_lot, technician, analyst, django_assert_max_num_queries
):
    from tests.release.helpers import PASSING, record_manual_run

    client = signed_in(analyst)
    in_process = factories.lot(technician)
    _open_oos(analyst, in_process, 1)
    record_manual_run(technician, factories.lot(technician), "NTA", PASSING["NTA"])
    quarantined = factories.lot(technician)
    services.lot_set_status(actor=technician, lot=quarantined, to="quarantined", reason="Hold")
    client.get(reverse("release:dashboard_board"))
    base = _board_queries(client, django_assert_max_num_queries)

    for _ in range(4):
        lot = factories.lot(technician)
        _open_oos(analyst, lot, 2)
        record_manual_run(technician, factories.lot(technician), "TEM", PASSING["TEM"])
        held = factories.lot(technician)
        services.lot_set_status(actor=technician, lot=held, to="quarantined", reason="Hold")

    _board_queries(client, django_assert_max_num_queries, limit=base)


def test_the_board_reads_the_same_blockers_as_each_lot_s_own_review(
    passing_lot, oos_lot, technician, analyst
):
    """The dashboard reads the blockers of all its lots together; they are the ones each lot's
    review reads on its own (the per-lot reads of genealogy, runs and deviations)."""
    from release import selectors
    from release.deviations import related_deviations
    from release.models import CriterionEvaluation
    from release.specifications import judging_specification
    from tests.release.helpers import PASSING, record_manual_run

    in_process = factories.lot(technician)
    _open_oos(analyst, in_process, 2)
    testing = factories.lot(technician)
    record_manual_run(technician, testing, "NTA", PASSING["NTA"])
    record_manual_run(technician, testing, "ENDOTOXIN", [("endotoxin", 0.1), ("spike_recovery", 5)])
    lots = [passing_lot, oos_lot, in_process, testing]
    for lot in lots:
        lot.refresh_from_db()

    together = selectors.release_blockers_of(lots)

    def one_by_one(lot):
        out = []
        if lot.status != "under_review":
            out.append("lot_not_under_review")
        evaluations = list(
            CriterionEvaluation.objects.filter(lot=lot)
            .select_related("criterion")
            .order_by("criterion__position", "criterion_id")
        )
        out += selectors._evaluation_blockers(
            evaluations, what="lot", judged_by=lambda: judging_specification(lot=lot)
        )
        out += selectors.source_batch_blockers(lot)
        out += selectors.unreviewed_run_blockers(lot)
        out += selectors.invalid_run_blockers(lot)
        out += selectors._deviation_blockers(
            related_deviations(lot), confirmed="the lot can only be rejected"
        )
        return [b if isinstance(b, str) else (b.code, b.message, b.object) for b in out]

    for lot in lots:
        got = [(b.code, b.message, b.object) for b in together[lot.pk]]
        got = ["lot_not_under_review" if g[0] == "lot_not_under_review" else g for g in got]
        assert got == one_by_one(lot), lot.code
    assert {b.code for b in together[testing.pk]} >= {"run_invalid", "run_unreviewed"}
    assert {b.code for b in together[in_process.pk]} >= {"oos_open", "not_evaluated"}


def _column(page, key: str) -> str:
    return page.content.decode().split(f'data-status="{key}"')[1].split("</section>")[0]


def test_a_column_shows_at_most_dashboard_cap_lots_and_links_to_the_rest(technician, analyst):
    """The board is bounded (issue 14): each column shows DASHBOARD_CAP cards, those with an
    open deviation first, its total, and a link to the lots list for the rest; so the page and
    its 5-second poll cost the same on a busy site as on a quiet one."""
    from release.selectors import DASHBOARD_CAP

    waiting = [factories.lot(technician) for _ in range(DASHBOARD_CAP)]
    troubled = factories.lot(technician)  # the newest: last by date of manufacture and pk
    _open_oos(analyst, troubled, 1)

    column = _column(signed_in(analyst).get(reverse("release:dashboard_board")), "in_process")

    assert column.count('class="list-group-item board-lot"') == DASHBOARD_CAP
    assert column.index(troubled.code) < min(
        column.index(lot.code) for lot in waiting if lot.code in column
    )
    assert f"Showing {DASHBOARD_CAP} of {DASHBOARD_CAP + 1}" in column
    assert f'{reverse("batches:exosomelot_list")}?status=in_process"' in column
    assert waiting[-1].code not in column  # the last by date of manufacture and pk waits


def test_the_decided_columns_show_the_latest_final_dispositions(technician, analyst, qa_signer):
    """Released (last 30 days) and Rejected list the lots by their final disposition, newest
    first, with its signer; a release older than 30 days has left the board."""
    from datetime import timedelta

    from django.utils import timezone

    rejected = [
        factories.finalize_lot(qa_signer, factories.lot(technician), "rejected") for _ in range(3)
    ]
    old = factories.finalize_lot(
        qa_signer, factories.lot(technician), "released", timezone.now() - timedelta(days=40)
    )
    recent = factories.finalize_lot(qa_signer, factories.lot(technician), "released")

    page = signed_in(analyst).get(reverse("release:dashboard_board"))

    column = _column(page, "rejected")
    codes = [lot.code for lot in reversed(rejected)]  # newest first
    assert [column.index(code) for code in codes] == sorted(column.index(c) for c in codes)
    assert '<span class="badge text-bg-secondary ms-auto">3</span>' in column
    released = _column(page, "released")
    assert recent.code in released and old.code not in released
    assert (qa_signer.get_full_name() or qa_signer.username) in released
    assert '<span class="badge text-bg-secondary ms-auto">1</span>' in released
