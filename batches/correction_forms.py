"""Correction forms: each record's own form from batches.forms, showing only the fields a
correction may change (batches.services.CORRECTABLE_FIELDS, which the service enforces again).

A code, a status or what a record was made from is not in these forms: those are not corrected
(a wrong record is voided with its reason and recorded again).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from batches import forms as record_forms
from batches import services
from batches.models import (
    Aliquot,
    CellBank,
    CultureBatch,
    Donor,
    ExosomeLot,
    Harvest,
    IsolationRun,
    Passage,
    ReagentLot,
    StorageLocation,
)
from lims.forms import BootstrapMixin


class CorrectionMixin:
    """Keep only the correctable fields of a record's form, and say what a submission changed.

    `changes()` is what goes to services.record_update: the fields whose value differs from the
    record's. A datetime is shown to the minute (<input type=datetime-local>), so a time whose
    seconds the page could not show is not taken as changed when its minute is the same.
    """

    correctable: tuple[str, ...] = ()
    fields: dict[str, forms.Field]
    instance: Any
    cleaned_data: dict[str, Any]
    changed_data: list[str]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.fields):
            if name not in self.correctable:
                del self.fields[name]

    def changes(self) -> dict[str, Any]:
        changed = {}
        for name in self.changed_data:
            value = self.cleaned_data.get(name)
            before = getattr(self.instance, name, None)
            if isinstance(self.fields[name], forms.DateTimeField) and value and before:
                shown = timezone.localtime(before).replace(second=0, microsecond=0)
                if timezone.localtime(value) == shown:
                    continue
            changed[name] = value
        return changed


def _correction_of(base: type[forms.ModelForm], model: type) -> type[forms.ModelForm]:
    return type(
        f"{model.__name__}CorrectionForm",
        (CorrectionMixin, base),
        {"correctable": services.CORRECTABLE_FIELDS[model]},
    )


class IsolationRunCorrectionForm(CorrectionMixin, record_forms.IsolationRunForm):
    """A run's fields, and its process parameters (g-force, time, cut-off, flow) as entered."""

    correctable = (
        *services.CORRECTABLE_FIELDS[IsolationRun],
        *record_forms.IsolationRunForm.PARAMETER_FIELDS,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.PARAMETER_FIELDS:
            self.fields[name].initial = (self.instance.parameters or {}).get(name)

    def changes(self) -> dict[str, Any]:
        changed = super().changes()
        parameters = dict(self.instance.parameters or {})
        for name in self.PARAMETER_FIELDS:
            changed.pop(name, None)
            value = self.cleaned_data.get(name)
            if value is None:
                parameters.pop(name, None)
            else:
                parameters[name] = value
        if parameters != (self.instance.parameters or {}):
            changed["parameters"] = parameters
        return changed


class AliquotCorrectionForm(CorrectionMixin, BootstrapMixin, forms.ModelForm):
    """A vial's filled volume (its lot, number and barcode are what it is; its position
    changes by a move, its status by its own moves)."""

    correctable = services.CORRECTABLE_FIELDS[Aliquot]

    class Meta:
        model = Aliquot
        fields = ["volume_ul"]
        labels = {"volume_ul": "Volume (µL)"}


# model name (as in URLs) -> (model, its correction form)
CORRECTION_FORMS: dict[str, tuple[type, type[forms.ModelForm]]] = {
    "donor": (Donor, _correction_of(record_forms.DonorForm, Donor)),
    "cellbank": (CellBank, _correction_of(record_forms.CellBankForm, CellBank)),
    "reagentlot": (ReagentLot, _correction_of(record_forms.ReagentLotForm, ReagentLot)),
    "storagelocation": (
        StorageLocation,
        _correction_of(record_forms.StorageLocationForm, StorageLocation),
    ),
    "passage": (Passage, _correction_of(record_forms.PassageForm, Passage)),
    "culturebatch": (CultureBatch, _correction_of(record_forms.CultureBatchForm, CultureBatch)),
    "harvest": (Harvest, _correction_of(record_forms.HarvestForm, Harvest)),
    "isolationrun": (IsolationRun, IsolationRunCorrectionForm),
    "exosomelot": (ExosomeLot, _correction_of(record_forms.ExosomeLotForm, ExosomeLot)),
    "aliquot": (Aliquot, AliquotCorrectionForm),
}
