"""The navigation's search box (release/search.py): one record named jumps to it, several are
listed by kind, only people who may view records see anything, a GET writes nothing, and the
number of queries does not grow with the data."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batches import services
from release import deviations
from release.search import KINDS, MAX_QUERY, PER_KIND
from tests import factories
from tests.foundation.test_reads_only_read import refuse_writes

pytestmark = pytest.mark.django_db

BACKEND = "django.contrib.auth.backends.ModelBackend"
URL = "/search/"


def _lot_with_vials(technician, n=3):
    lot = factories.lot(technician)
    vials = services.aliquots_create(
        actor=technician,
        lot=lot,
        volume_ul=Decimal("100"),
        locations=factories.storage_positions(technician, n, box=f"S{lot.pk}"),
    )
    return lot, vials


def test_the_url_is_the_one_the_navigation_box_submits_to():
    assert reverse("search") == URL


def test_a_scanned_vial_barcode_jumps_to_the_vial(tech_client, technician):
    _, vials = _lot_with_vials(technician)
    # A scanner types the barcode and Enter; some add a carriage return or spaces around it.
    response = tech_client.get(URL, {"q": f"  {vials[1].barcode}\r\n"})
    assert response.status_code == 302
    assert response["Location"] == vials[1].get_absolute_url()


def test_a_whole_lot_code_jumps_to_the_lot_though_its_vials_start_with_it(tech_client, technician):
    lot, vials = _lot_with_vials(technician)
    assert all(v.barcode.startswith(lot.code) for v in vials)
    response = tech_client.get(URL, {"q": lot.code.lower()})
    assert response.status_code == 302
    assert response["Location"] == lot.get_absolute_url()


def test_the_start_of_a_code_lists_what_matches_grouped_by_kind(tech_client, technician):
    lot, vials = _lot_with_vials(technician, n=2)
    prefix = lot.code[:-1].lower()  # "exo-2026-000": no record is named exactly
    response = tech_client.get(URL, {"q": prefix})
    assert response.status_code == 200
    groups = {g.title: [h.name for h in g.hits] for g in response.context["groups"]}
    assert groups["Exosome lots"] == [lot.code]
    assert groups["Vials"] == [v.barcode for v in vials]
    assert "Culture batches" not in groups
    body = response.content.decode()
    assert "<h2" in body and "Exosome lots" in body and "Vials" in body


def test_a_supplier_lot_number_finds_the_reagent_lot(tech_client, technician):
    reagent = factories.reagent_lot(technician, lot_number="ZX-99871")
    factories.reagent_lot(technician, lot_number="ZY-1")
    response = tech_client.get(URL, {"q": "zx-998"})
    assert response.status_code == 302
    assert response["Location"] == reagent.get_absolute_url()


def test_codes_of_every_production_kind_are_found(tech_client, technician):
    batch = factories.culture_batch(technician)
    run = factories.isolation_run(technician)
    for record in (batch, batch.cell_bank, batch.cell_bank.donor, run):
        response = tech_client.get(URL, {"q": record.code})
        assert response.status_code == 302, record
        assert response["Location"] == record.get_absolute_url()


def test_deviations_capa_and_specifications_are_found(tech_client, technician, qa_user):
    lot = factories.lot(technician)
    deviation = deviations.deviation_open(
        actor=technician, kind="process", title="pH excursion", description="pH 7.9", lot=lot
    )
    capa = deviations.capa_add(
        actor=qa_user,
        deviation=deviation,
        description="Recalibrate the pH probe",
        owner="QC",
        due_on=timezone.localdate() + timedelta(days=7),
    )
    response = tech_client.get(URL, {"q": deviation.code})
    assert response["Location"] == deviation.get_absolute_url()
    response = tech_client.get(URL, {"q": f"CAPA {capa.pk}"})
    assert response["Location"] == deviation.get_absolute_url()


def test_two_records_with_the_same_code_are_listed_not_guessed(tech_client, technician):
    lot = factories.lot(technician)
    # A donor code typed by a person may equal another record's generated code.
    donor = factories.donor(technician, code=lot.code)
    response = tech_client.get(URL, {"q": lot.code})
    assert response.status_code == 200
    names = [(g.title, h.name) for g in response.context["groups"] for h in g.hits]
    assert ("Exosome lots", lot.code) in names and ("Donors", donor.code) in names


def test_each_kind_shows_at_most_its_limit_and_says_there_are_more(tech_client, technician):
    _lot_with_vials(technician, n=PER_KIND + 2)
    response = tech_client.get(URL, {"q": "EXO-"})
    (vials,) = [g for g in response.context["groups"] if g.title == "Vials"]
    assert len(vials.hits) == PER_KIND and vials.more
    assert "Only the first" in response.content.decode()


def test_nothing_found_says_so(tech_client):
    response = tech_client.get(URL, {"q": "NO-SUCH-CODE"})
    assert response.status_code == 200
    assert "Nothing matches" in response.content.decode()


def test_like_wildcards_in_the_query_match_only_themselves(tech_client, technician):
    _lot_with_vials(technician)
    for q in ("%", "_", "EXO%", "EXO_2"):
        response = tech_client.get(URL, {"q": q})
        assert response.status_code == 200, q
        assert response.context["groups"] == [], q


@pytest.mark.parametrize("q", ["", "   ", "x" * (MAX_QUERY + 1), "EXO\x00-1"])
def test_empty_too_long_or_nul_queries_are_answered_without_a_record_query(tech_client, q):
    tech_client.get(URL)  # warm the session and content types
    with CaptureQueriesContext(connection) as ctx:
        response = tech_client.get(URL, {"q": q})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert response.context["groups"] == []
    tables = " ".join(query["sql"] for query in ctx.captured_queries)
    assert "batches_exosomelot" not in tables and "batches_aliquot" not in tables


def test_the_page_without_a_query_asks_for_one(tech_client):
    response = tech_client.get(URL)
    assert response.status_code == 200
    assert not response.context["form"].errors
    assert 'role="search"' in response.content.decode()


def test_the_navigation_box_is_shown_only_to_people_who_view_records(client, technician, make_user):
    client.force_login(technician, backend=BACKEND)
    assert 'id="nav-search"' in client.get(reverse("home")).content.decode()
    client.force_login(make_user(None, username="nobody"), backend=BACKEND)
    assert 'id="nav-search"' not in client.get(reverse("home")).content.decode()


def test_an_account_without_a_role_gets_403_and_learns_nothing(client, technician, make_user):
    lot = factories.lot(technician)
    client.force_login(make_user(None, username="nobody"), backend=BACKEND)
    for q in (lot.code, "NO-SUCH-CODE"):
        response = client.get(URL, {"q": q})
        assert response.status_code == 403
        assert lot.code not in response.content.decode()


def test_an_anonymous_visitor_is_sent_to_sign_in(client, technician):
    lot = factories.lot(technician)
    response = client.get(URL, {"q": lot.code})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_inactive_account_sees_nothing(client, technician, make_user):
    lot = factories.lot(technician)
    user = make_user("technician", username="gone.tech")
    client.force_login(user, backend=BACKEND)
    user.is_active = False
    user.save()
    response = client.get(URL, {"q": lot.code})
    assert response.status_code in (302, 403)
    assert lot.get_absolute_url() not in response.get("Location", "")


@pytest.mark.parametrize("role", ["technician", "analyst", "qa", "admin"])
def test_every_role_that_views_records_finds(client, personas, role, technician):
    lot = factories.lot(technician)
    client.force_login(personas[role], backend=BACKEND)
    response = client.get(URL, {"q": lot.code})
    assert response["Location"] == lot.get_absolute_url()


def test_only_get_a_post_is_refused_and_writes_nothing(tech_client, technician):
    lot = factories.lot(technician)
    response = tech_client.post(URL, {"q": lot.code})
    assert response.status_code == 405


def test_a_search_writes_nothing(tech_client, technician):
    lot, _ = _lot_with_vials(technician)
    tech_client.get(URL)
    with refuse_writes("search"):
        for q in (lot.code, lot.code[:4], "nothing"):
            tech_client.get(URL, {"q": q})


def test_the_number_of_queries_does_not_grow_with_the_matches(tech_client, technician):
    lot, _ = _lot_with_vials(technician, n=1)
    factories.culture_batch(technician)
    q = {"q": "E"}  # the start of every lot and vial (EXO-...)
    tech_client.get(URL, q)
    with CaptureQueriesContext(connection) as few:
        tech_client.get(URL, q)
    for _ in range(3):
        _lot_with_vials(technician, n=4)
    with CaptureQueriesContext(connection) as many:
        response = tech_client.get(URL, q)
    hits = sum(len(g.hits) for g in response.context["groups"])
    assert hits > 10
    assert len(few) == len(many), [x["sql"] for x in many.captured_queries]
    # One query per kind at most (each flags its exact matches as _exact).
    per_kind = [x["sql"] for x in many.captured_queries if '"_exact"' in x["sql"]]
    assert 1 <= len(per_kind) <= len(KINDS)


def test_runs_instruments_assays_and_specifications_are_found(tech_client, technician, admin_user):
    from release.models import Specification
    from tests.api.conftest import register_instrument
    from tests.release.helpers import PASSING, record_manual_run

    run = record_manual_run(
        technician, factories.lot(technician), "NTA", PASSING["NTA"], external_id="NTA-EXT-7781"
    )
    instrument = register_instrument(admin_user, assays=["NTA"], code="ZETA-01")
    spec = Specification.objects.order_by("pk").first()
    assert spec is not None, "the default specifications are seeded by a migration"
    for q, record in [
        ("nta-ext-778", run),  # the sender's run id
        (f"NTA run {run.pk}", run),  # the run's name on its page
        (f"run {run.pk}", run),
        ("zeta-0", instrument),
        (str(spec), spec),  # "MSC-sEV drug substance v1"
    ]:
        response = tech_client.get(URL, {"q": q})
        assert response.status_code == 302, q
        assert response["Location"] == record.get_absolute_url(), q
    # A run named with another assay's code is not that run.
    response = tech_client.get(URL, {"q": f"BCA run {run.pk}"})
    assert response.get("Location") != run.get_absolute_url()
    # An assay by its code (its current version: the one definition named exactly).
    response = tech_client.get(URL, {"q": "nta"})
    assert response["Location"] == run.assay.get_absolute_url()
