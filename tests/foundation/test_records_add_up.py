"""Records that add up (release gate, item 8): dates in genealogy order, volumes that balance,
no loop in the bank genealogy.

One test per measured bug, through the service and, for some, through the page's form (the
error next to the field); each asserts that nothing was written.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from batches import services
from batches.models import (
    Aliquot,
    CellBank,
    CultureBatch,
    ExosomeLot,
    IsolationInput,
    IsolationRun,
)
from tests import factories
from tests.foundation.test_services_and_forms import (
    field_error,
    isolation_data,
    isolation_fields,
    refusal,
)


def ago(days: int):
    return timezone.localdate() - timedelta(days=days)


def harvest_of(actor, volume: str):
    return services.harvest_record(
        actor=actor,
        batch=factories.culture_batch(actor),
        harvested_at=timezone.now() - timedelta(hours=6),
        volume_ml=Decimal(volume),
        medium="serum_free",
    )


# --- Dates in genealogy order ----------------------------------------------------------------


def _master(actor):
    return factories.cell_bank(actor, bank_type="master", passage=4, frozen_on=ago(60))


def test_working_bank_frozen_before_its_master_and_at_a_lower_passage_is_refused(
    tech_client, technician
):
    master = _master(technician)
    fields = dict(
        donor=master.donor,
        bank_type="working",
        parent_bank=master,
        passage=3,
        vials=40,
        frozen_on=ago(90),
        storage="LN2 tank 1",
    )

    errors = refusal(services.cell_bank_create, actor=technician, **fields)
    assert "frozen after it" in errors["frozen_on"][0]
    assert "higher passage" in errors["passage"][0]

    data = {k: getattr(v, "code", v) for k, v in fields.items()}
    data["frozen_on"] = fields["frozen_on"].isoformat()
    response = tech_client.post(reverse("batches:cellbank_create"), data)
    assert "frozen after it" in field_error(response, "frozen_on")[0]
    assert "higher passage" in field_error(response, "passage")[0]
    assert list(CellBank.objects.all()) == [master]

    # The positive control: later and at a higher passage, it is recorded.
    working = services.cell_bank_create(
        actor=technician, **{**fields, "passage": 5, "frozen_on": ago(30)}
    )
    assert working.parent_bank == master


def test_culture_started_before_its_bank_was_frozen_is_refused(tech_client, technician):
    bank = factories.cell_bank(technician, frozen_on=ago(30))

    errors = refusal(
        services.culture_batch_create, actor=technician, cell_bank=bank, started_on=ago(31)
    )
    assert errors["started_on"] == [
        f"A culture cannot start before its cell bank {bank} was frozen ({ago(30):%Y-%m-%d})."
    ]

    response = tech_client.post(
        reverse("batches:culturebatch_create"),
        {"cell_bank": bank.code, "started_on": ago(31).isoformat(), "notes": ""},
    )
    assert field_error(response, "started_on") == errors["started_on"]
    assert not CultureBatch.objects.exists()


def test_lot_manufactured_the_day_before_its_isolation_run_is_refused(tech_client, technician):
    run = factories.isolation_run(technician)
    day_before = timezone.localdate(run.ended_at) - timedelta(days=1)

    errors = refusal(
        services.lot_create,
        actor=technician,
        isolation_runs=[run],
        manufactured_on=day_before,
        volume_ml=Decimal("5"),
    )
    assert "before its isolation run" in errors["manufactured_on"][0]

    response = tech_client.post(
        reverse("batches:exosomelot_create"),
        {"isolation_runs": run.code, "manufactured_on": day_before.isoformat(), "volume_ml": "5"},
    )
    assert field_error(response, "manufactured_on") == errors["manufactured_on"]
    assert not ExosomeLot.objects.exists()


def test_isolation_run_started_before_its_harvest_was_collected_is_refused(technician):
    harvest = factories.harvest(technician)
    early = harvest.harvested_at - timedelta(hours=1)

    errors = refusal(
        services.isolation_run_create,
        **isolation_fields(technician, harvest, started_at=early, ended_at=early),
    )
    assert "before the harvest it processes" in errors["started_at"][0]
    assert not IsolationRun.objects.exists()


# --- Volumes that balance ----------------------------------------------------------------------


def test_800_ml_taken_from_a_500_ml_harvest_giving_900_ml_is_refused(tech_client, technician):
    harvest = harvest_of(technician, "500")

    errors = refusal(
        services.isolation_run_create,
        **isolation_fields(
            technician,
            harvest,
            input_volume_ml=Decimal("800"),
            output_volume_ml=Decimal("900"),
        ),
    )
    assert errors["input_volume_ml"] == [
        "The input volume (800 mL) is more than what is left of the chosen harvests (500 mL)."
    ]
    assert errors["output_volume_ml"] == [
        "The output volume cannot exceed the input volume (800 mL)."
    ]

    url = reverse("batches:isolationrun_create")
    response = tech_client.post(
        url, isolation_data(harvest, input_volume_ml="800", output_volume_ml="900")
    )
    assert field_error(response, "output_volume_ml") == errors["output_volume_ml"]
    response = tech_client.post(url, isolation_data(harvest, input_volume_ml="800"))
    assert field_error(response, "input_volume_ml") == errors["input_volume_ml"]
    assert not IsolationRun.objects.exists()
    assert not IsolationInput.objects.exists()


def test_the_database_refuses_more_out_than_in(technician):
    run = factories.isolation_run(technician)
    with pytest.raises(IntegrityError), transaction.atomic():
        IsolationRun.objects.filter(pk=run.pk).update(output_volume_ml=Decimal("251"))


def test_one_harvest_feeding_three_isolation_runs_in_full_is_refused(tech_client, technician):
    harvest = harvest_of(technician, "250")
    first = services.isolation_run_create(**isolation_fields(technician, harvest))
    assert first.inputs.get().volume_ml == Decimal("250")

    for _ in range(2):
        errors = refusal(services.isolation_run_create, **isolation_fields(technician, harvest))
        assert "is used up" in errors["harvests"][0]
    assert list(IsolationRun.objects.all()) == [first]
    assert harvest.remaining_volume_ml == 0

    page = tech_client.get(harvest.batch.get_absolute_url()).content.decode()
    assert '<td><span class="quantity text-nowrap" title="0.00">0</span></td>' in page  # remaining


def test_a_run_takes_what_is_left_split_over_its_harvests(tech_client, technician):
    big, small = harvest_of(technician, "300"), harvest_of(technician, "100")
    services.isolation_run_create(
        **isolation_fields(technician, big, input_volume_ml=Decimal("200")),
    )
    run = services.isolation_run_create(
        **isolation_fields(technician, big, harvests=[big, small], input_volume_ml=Decimal("150"))
    )
    taken = {i.harvest_id: i.volume_ml for i in run.inputs.all()}
    assert taken == {big.pk: Decimal("75"), small.pk: Decimal("75")}
    assert (big.remaining_volume_ml, small.remaining_volume_ml) == (Decimal(25), Decimal(25))

    errors = refusal(
        services.isolation_run_create,
        **isolation_fields(technician, big, harvests=[big, small], input_volume_ml=Decimal("51")),
    )
    assert "(50 mL)" in errors["input_volume_ml"][0]

    page = tech_client.get(run.get_absolute_url()).content.decode()
    assert 'this run took <span class="quantity text-nowrap" title="75.00 mL">75 mL</span>' in page
    assert 'title="25.00 mL">25 mL</span> left' in page


def test_explicit_volumes_per_harvest_are_kept_within_what_is_left(technician):
    a, b = harvest_of(technician, "100"), harvest_of(technician, "100")
    fields = isolation_fields(technician, a, harvests=[a, b], input_volume_ml=Decimal("130"))

    errors = refusal(
        services.isolation_run_create,
        **fields,
        harvest_volumes={a.pk: Decimal("120"), b.pk: Decimal("10")},
    )
    assert "120 mL from harvest" in errors["harvests"][0]
    errors = refusal(
        services.isolation_run_create,
        **fields,
        harvest_volumes={a.pk: Decimal("100"), b.pk: Decimal("10")},
    )
    assert "(110 mL)" in errors["input_volume_ml"][0]
    assert not IsolationRun.objects.exists()

    run = services.isolation_run_create(
        **fields, harvest_volumes={a.pk: Decimal("100"), b.pk: Decimal("30")}
    )
    assert sorted(i.volume_ml for i in run.inputs.all()) == [Decimal("30"), Decimal("100")]


def _lot_of(actor, volume: str):
    return services.lot_create(
        actor=actor,
        isolation_runs=[factories.isolation_run(actor)],
        manufactured_on=timezone.localdate(),
        volume_ml=Decimal(volume),
    )


def test_three_1_ml_vials_from_a_2_4_ml_lot_are_refused(tech_client, technician):
    lot = _lot_of(technician, "2.4")

    errors = refusal(
        services.aliquots_create,
        actor=technician,
        lot=lot,
        volume_ul=Decimal("1000"),
        locations=[None, None, None],
    )
    assert errors["volume_ul"] == [
        f"3 vials of 1000 µL need 3 mL: only 2.4 mL is left of lot {lot}."
    ]

    url = reverse("batches:aliquot_fill", args=[lot.pk])
    response = tech_client.post(url, {"count": "3", "volume_ul": "1000"})
    assert field_error(response, "volume_ul") == errors["volume_ul"]
    assert not Aliquot.objects.exists()

    services.aliquots_create(
        actor=technician, lot=lot, volume_ul=Decimal("1000"), locations=[None, None]
    )
    assert lot.remaining_volume_ml == Decimal("0.4")
    page = tech_client.get(lot.get_absolute_url()).content.decode()
    assert 'title="0.400 mL">0.4 mL</span> not yet filled into vials' in page
    errors = refusal(
        services.aliquots_create,
        actor=technician,
        lot=lot,
        volume_ul=Decimal("500"),
        locations=[None],
    )
    assert "only 0.4 mL is left" in errors["volume_ul"][0]
    assert lot.aliquots.count() == 2


def test_a_lot_holds_no_more_than_its_runs_produced(technician):
    run = factories.isolation_run(technician)  # 5 mL out
    errors = refusal(
        services.lot_create,
        actor=technician,
        isolation_runs=[run],
        manufactured_on=timezone.localdate(),
        volume_ml=Decimal("6"),
    )
    assert "(5 mL)" in errors["volume_ml"][0]
    assert not ExosomeLot.objects.exists()


# --- Corrections keep the records adding up ---------------------------------------------------


def refused_correction(actor, record, **changes):
    return refusal(
        lambda **kwargs: services.record_update(record, **kwargs),
        actor=actor,
        changes=changes,
        reason="Correction",
    )


def test_a_cell_bank_that_is_its_own_parent_is_refused(tech_client, technician):
    bank = _master(technician)

    errors = refused_correction(technician, bank, parent_bank=bank)
    assert errors["parent_bank"] == ["A cell bank cannot be its own parent."]

    data = {
        "donor": bank.donor.code,
        "bank_type": "master",
        "parent_bank": bank.code,
        "passage": bank.passage,
        "vials": bank.vials,
        "frozen_on": bank.frozen_on.isoformat(),
        "storage": bank.storage,
        "reason": "Typo",
    }
    response = tech_client.post(reverse("batches:record_correct", args=["cellbank", bank.pk]), data)
    assert field_error(response, "parent_bank") == ["A cell bank cannot be its own parent."]
    bank.refresh_from_db()
    assert bank.parent_bank is None

    with pytest.raises(IntegrityError), transaction.atomic():
        CellBank.objects.filter(pk=bank.pk).update(parent_bank=bank)


def test_a_loop_in_the_bank_genealogy_is_refused(technician):
    master = _master(technician)
    working = factories.cell_bank(
        technician, donor=master.donor, parent_bank=master, passage=6, frozen_on=ago(30)
    )

    errors = refused_correction(technician, master, parent_bank=working)
    assert errors["parent_bank"] == [
        f"{working} descends from {master}: the genealogy cannot loop."
    ]
    master.refresh_from_db()
    assert master.parent_bank is None


def test_corrections_cannot_reorder_the_genealogy_or_unbalance_volumes(technician):
    master = _master(technician)
    working = factories.cell_bank(
        technician, donor=master.donor, parent_bank=master, passage=6, frozen_on=ago(30)
    )
    batch = factories.culture_batch(technician, cell_bank=working, started_on=ago(10))

    def refused(record, **changes):
        return refused_correction(technician, record, **changes)

    assert "frozen before it" in refused(master, frozen_on=ago(20))["frozen_on"][0]
    assert "stay below it" in refused(master, passage=7)["passage"][0]
    assert "was frozen before it" in refused(working, frozen_on=ago(5))["frozen_on"][0]
    assert "frozen" in refused(batch, started_on=ago(40))["started_on"][0]

    harvest = factories.harvest(technician, batch)
    run = factories.isolation_run(technician, [harvest])
    lot = factories.lot(technician, runs=[run])
    services.aliquots_create(actor=technician, lot=lot, volume_ul=Decimal("1000"), locations=[None])
    assert "already took 250 mL" in refused(harvest, volume_ml=Decimal("100"))["volume_ml"][0]
    assert "cannot exceed" in refused(run, output_volume_ml=Decimal("300"))["output_volume_ml"][0]
    assert "1 mL" in refused(lot, volume_ml=Decimal("0.5"))["volume_ml"][0]
    assert (
        "before its isolation run" in (refused(lot, manufactured_on=ago(3))["manufactured_on"][0])
    )
    assert CellBank.objects.get(pk=master.pk).frozen_on == ago(60)
    assert ExosomeLot.objects.get(pk=lot.pk).volume_ml == Decimal("5")
    assert IsolationRun.objects.get(pk=run.pk).output_volume_ml == Decimal("5")
    assert CultureBatch.objects.get(pk=batch.pk).started_on == ago(10)
