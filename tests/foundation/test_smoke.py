from tests import factories


def test_technician_records_a_lot_from_donor_to_vials(technician):
    lot = factories.lot(technician)
    positions = factories.storage_positions(technician, 3)
    from batches import services

    vials = services.aliquots_create(actor=technician, lot=lot, volume_ul=100, locations=positions)
    assert [v.barcode for v in vials] == [f"{lot.code}-00{i}" for i in (1, 2, 3)]
    assert lot.code.startswith("EXO-")
