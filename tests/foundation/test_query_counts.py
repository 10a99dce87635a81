"""Pages run a fixed number of queries, however many rows they show (no N+1).

Each page is measured with few rows and again with many; the two counts must be equal.
"""

import itertools
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from batches import services
from tests import factories

BACKEND = "django.contrib.auth.backends.ModelBackend"
FEW, MORE = 2, 10  # 2 rows, then 12
_boxes = itertools.count(1)


def _positions(actor, n):
    return factories.storage_positions(actor, n, box=f"QC{next(_boxes)}")


def _vials(actor, n):
    lot = factories.lot(actor)
    return services.aliquots_create(
        actor=actor, lot=lot, volume_ul=Decimal("100"), locations=_positions(actor, n)
    )


def _occupied_and_free_positions(actor, n):
    positions = _positions(actor, n)
    lot = factories.lot(actor)
    half = positions[: n // 2]
    services.aliquots_create(actor=actor, lot=lot, volume_ul=Decimal("100"), locations=half)


def _corrected_donors(actor, n):
    for _ in range(n):
        donor = factories.donor(actor)
        services.record_update(donor, actor=actor, changes={"notes": "checked"}, reason="Review")


def _batches_with_reagents(actor, n):
    reagent = factories.reagent_lot(actor)
    for _ in range(n):
        factories.culture_batch(actor, reagent_lots=[reagent])


# (list page, who looks at it, how to add n rows to it)
LIST_PAGES = [
    ("batches:donor_list", "technician", lambda a, n: [factories.donor(a) for _ in range(n)]),
    (
        "batches:cellbank_list",
        "technician",
        lambda a, n: [factories.cell_bank(a) for _ in range(n)],
    ),
    (
        "batches:reagentlot_list",
        "technician",
        lambda a, n: [factories.reagent_lot(a) for _ in range(n)],
    ),
    ("batches:culturebatch_list", "technician", _batches_with_reagents),
    (
        "batches:isolationrun_list",
        "technician",
        lambda a, n: [factories.isolation_run(a) for _ in range(n)],
    ),
    ("batches:exosomelot_list", "technician", lambda a, n: [factories.lot(a) for _ in range(n)]),
    ("batches:aliquot_list", "technician", _vials),
    ("batches:storagelocation_list", "technician", _occupied_and_free_positions),
    ("audit_trail", "analyst", _corrected_donors),
]
# The home page's work queues have their own test of this (tests/release_pages/test_home_queues).


def _count_queries(client, url) -> tuple[int, list[str], object]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries], response


def _explain(few, many) -> str:
    return "\n".join(["--- with few rows:", *few, "--- with many rows:", *many])


@pytest.mark.parametrize(
    ("url_name", "role", "add_rows"), LIST_PAGES, ids=[p[0] for p in LIST_PAGES]
)
def test_list_page_query_count_does_not_grow_with_rows(client, personas, url_name, role, add_rows):
    technician = personas["technician"]
    client.force_login(personas[role], backend=BACKEND)
    url = reverse(url_name)

    add_rows(technician, FEW)
    client.get(url)  # warm per-process caches (content types, templates)
    few, few_sql, _ = _count_queries(client, url)
    add_rows(technician, MORE)
    many, many_sql, response = _count_queries(client, url)

    listed = response.context["object_list"]
    assert len(listed) >= FEW + MORE, "the page did not show the added rows"
    assert few == many, _explain(few_sql, many_sql)


# --- Detail pages: a small record and a big one ------------------------------------------------


def _lot(actor, *, batches, vials):
    reagent = factories.reagent_lot(actor)
    runs = []
    for _ in range(batches):
        batch = factories.culture_batch(actor, reagent_lots=[reagent, factories.reagent_lot(actor)])
        runs.append(factories.isolation_run(actor, harvests=[factories.harvest(actor, batch)]))
    lot = factories.lot(actor, runs=runs)
    services.aliquots_create(
        actor=actor, lot=lot, volume_ul=Decimal("50"), locations=_positions(actor, vials)
    )
    services.lot_set_status(actor=actor, lot=lot, to="in_testing", reason="Samples sent")
    return lot


def _batch(actor, *, passages, harvests):
    reagents = [factories.reagent_lot(actor) for _ in range(passages)]
    batch = factories.culture_batch(actor, reagent_lots=reagents)
    for p in range(passages):
        services.passage_record(
            actor=actor,
            batch=batch,
            number=p + 1,
            seeded_on=batch.started_on,
            seeding_density_per_cm2=5000,
            cells_seeded=1_000_000,
            cells_harvested=3_000_000,
        )
    for _ in range(harvests):
        factories.harvest(actor, batch)
    return batch


def _run(actor, *, harvests):
    batches = [factories.culture_batch(actor) for _ in range(harvests)]
    run = factories.isolation_run(actor, harvests=[factories.harvest(actor, b) for b in batches])
    factories.lot(actor, runs=[run])
    return run


def _vial(actor, *, moves):
    (vial,) = _vials(actor, 1)
    for position in _positions(actor, moves):
        services.aliquot_move(actor=actor, aliquot=vial, to_location=position, reason="Re-boxed")
    return vial


# (detail page, a small record, a big one)
DETAIL_PAGES = [
    (
        "batches:exosomelot_detail",
        lambda a: _lot(a, batches=1, vials=2),
        lambda a: _lot(a, batches=4, vials=12),
    ),
    (
        "batches:culturebatch_detail",
        lambda a: _batch(a, passages=2, harvests=1),
        lambda a: _batch(a, passages=12, harvests=6),
    ),
    ("batches:isolationrun_detail", lambda a: _run(a, harvests=1), lambda a: _run(a, harvests=6)),
    ("batches:aliquot_detail", lambda a: _vial(a, moves=1), lambda a: _vial(a, moves=8)),
]


@pytest.mark.parametrize(
    ("url_name", "small", "big"), DETAIL_PAGES, ids=[p[0] for p in DETAIL_PAGES]
)
def test_detail_page_query_count_does_not_grow_with_related_rows(
    client, technician, url_name, small, big
):
    client.force_login(technician, backend=BACKEND)
    small_url = reverse(url_name, args=[small(technician).pk])
    big_url = reverse(url_name, args=[big(technician).pk])

    client.get(small_url)  # warm per-process caches
    few, few_sql, _ = _count_queries(client, small_url)
    many, many_sql, _ = _count_queries(client, big_url)
    assert few == many, _explain(few_sql, many_sql)
