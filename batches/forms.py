"""Browser forms for production records.

Forms only collect and pre-check input; the services apply the same rules again (through the
models' validators and constraints and the shared checks), so a caller that skips the form gets
the same refusal with the same message.
"""

from django import forms
from django.forms.models import ModelChoiceIteratorValue
from django.utils import timezone

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
    with_taken_volumes,
)
from lims.code_fields import CodeChoiceField, CodeListField, StoragePositionField
from lims.forms import DATE, DATETIME, BootstrapMixin, operators, person_label


def usable_reagent_lots():
    return ReagentLot.objects.filter(voided_at__isnull=True).order_by("name", "lot_number")


class DonorForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Donor
        fields = ["code", "tissue_source", "consent_reference", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}


class CellBankForm(BootstrapMixin, forms.ModelForm):
    # Typed codes, not <select>s of every donor and bank of the history (lims.code_fields); the
    # service refuses a voided parent bank, with the same message.
    donor = CodeChoiceField(Donor.objects.all(), help_text="The donor's code.")
    parent_bank = CodeChoiceField(
        CellBank.objects.all(),
        required=False,
        case_insensitive=True,  # on UPPER(code), as the batches' filter (batches 0014)
        help_text="The code of the bank it was expanded from (a working bank's master bank).",
    )

    class Meta:
        model = CellBank
        fields = ["donor", "bank_type", "parent_bank", "passage", "vials", "frozen_on", "storage"]
        widgets = {"frozen_on": DATE}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # a correction shows the codes (the initial would be the ids)
            self.initial["donor"] = self.instance.donor
            self.initial["parent_bank"] = self.instance.parent_bank

    def clean_frozen_on(self):
        value = self.cleaned_data["frozen_on"]
        if value > timezone.localdate():
            raise forms.ValidationError("The freezing date cannot be in the future.")
        return value

    def clean(self):
        data = super().clean()
        # The database refuses it too (cell_bank_not_own_parent); said here next to the field.
        if self.instance.pk and data.get("parent_bank") == self.instance:
            self.add_error("parent_bank", "A cell bank cannot be its own parent.")
        return data


class ReagentLotForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = ReagentLot
        fields = [
            "category",
            "name",
            "supplier",
            "catalogue_number",
            "lot_number",
            "expiry_date",
            "received_on",
        ]
        widgets = {"expiry_date": DATE, "received_on": DATE}


def refuse_voided(record) -> str | None:
    """The eligibility of a record named on a form: not voided (said with its code)."""
    if record.voided_at is not None:
        return f"{str(record._meta.verbose_name).capitalize()} {record} is voided."
    return None


class CultureBatchForm(BootstrapMixin, forms.ModelForm):
    # Typed, not a <select> of every bank (thousands after some years): see lims.code_fields.
    cell_bank = CodeChoiceField(
        CellBank.objects.all(),
        case_insensitive=True,  # as the batches list's filter, on UPPER(code) (batches 0014)
        refuse=refuse_voided,
        help_text="The cell bank's code, as on its label.",
    )
    reagent_lots = forms.ModelMultipleChoiceField(
        queryset=ReagentLot.objects.none(),
        required=False,
        help_text="Medium, serum / platelet lysate and supplement lots used.",
    )

    class Meta:
        model = CultureBatch
        fields = ["cell_bank", "started_on", "reagent_lots", "notes"]
        widgets = {"started_on": DATE, "notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reagent_lots"].queryset = usable_reagent_lots()
        if self.instance.pk and "cell_bank" in self.fields:
            # A correction shows the bank's code (the form's initial would be its id).
            self.initial["cell_bank"] = self.instance.cell_bank

    def clean(self):
        data = super().clean()
        if data.get("reagent_lots") and data.get("started_on"):
            try:
                services.check_reagents_usable(data["reagent_lots"], on=data["started_on"])
            except forms.ValidationError as exc:
                self.add_error(None, exc)
        return data


class PassageForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Passage
        fields = [
            "number",
            "seeded_on",
            "harvested_on",
            "seeding_density_per_cm2",
            "cells_seeded",
            "cells_harvested",
            "viability_pct",
            "confluence_pct",
        ]
        widgets = {"seeded_on": DATE, "harvested_on": DATE}
        labels = {
            "seeding_density_per_cm2": "Seeding density (cells/cm²)",
            "viability_pct": "Viability (%)",
            "confluence_pct": "Confluence (%)",
        }

    def clean(self):
        data = super().clean()
        seeded, harvested = data.get("seeded_on"), data.get("harvested_on")
        if seeded and harvested and harvested < seeded:
            self.add_error("harvested_on", "The harvest date cannot be before the seeding date.")
        return data


class HarvestForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = Harvest
        fields = ["harvested_at", "volume_ml", "medium", "notes"]
        widgets = {"harvested_at": DATETIME, "notes": forms.Textarea(attrs={"rows": 2})}
        labels = {"volume_ml": "Volume of conditioned medium (mL)"}


class IsolationRunForm(BootstrapMixin, forms.ModelForm):
    harvests = forms.ModelMultipleChoiceField(queryset=Harvest.objects.none())
    reagent_lots = forms.ModelMultipleChoiceField(
        queryset=ReagentLot.objects.none(), required=False
    )
    g_force = forms.FloatField(required=False, min_value=0, label="g-force (× g)")
    duration_min = forms.FloatField(required=False, min_value=0, label="Spin / run time (min)")
    membrane_cutoff_kda = forms.FloatField(
        required=False, min_value=0, label="Membrane cut-off (kDa)"
    )
    flow_rate_ml_min = forms.FloatField(required=False, min_value=0, label="Flow rate (mL/min)")

    class Meta:
        model = IsolationRun
        fields = [
            "method",
            "harvests",
            "input_volume_ml",
            "output_volume_ml",
            "operator",
            "equipment",
            "started_at",
            "ended_at",
            "reagent_lots",
        ]
        widgets = {"started_at": DATETIME, "ended_at": DATETIME}
        labels = {"input_volume_ml": "Input volume (mL)", "output_volume_ml": "Output volume (mL)"}

    PARAMETER_FIELDS = ("g_force", "duration_min", "membrane_cutoff_kda", "flow_rate_ml_min")

    # The harvests offered as boxes to tick: the latest with medium left, and any already
    # chosen. A box for every harvest of the history was a 1.2 MB page of 5,000 boxes after a
    # busy site's ten years (640 ms; issue 14); an older harvest is chosen by "isolate" on its
    # culture batch's page (?harvests=), and any harvest not voided may be sent.
    HARVESTS_OFFERED = 30
    HARVESTS_SCANNED = 100  # the latest harvests looked at for medium left

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["harvests"]
        field.queryset = (
            Harvest.objects.select_related("batch")
            .filter(voided_at__isnull=True, batch__voided_at__isnull=True)
            .exclude(batch__status=CultureBatch.Status.DISCARDED)
            .order_by("-harvested_at", "-pk")
        )
        field.widget.choices = self._offered_harvests(field)
        field.help_text = (
            f"The latest {self.HARVESTS_OFFERED} harvests with medium left. For an older "
            "one, use “isolate” on its culture batch's page."
        )
        self.fields["reagent_lots"].queryset = usable_reagent_lots()
        self.fields["operator"].queryset = operators(current_id=self.instance.operator_id)
        self.fields["operator"].label_from_instance = person_label

    def _offered_harvests(self, field) -> list[tuple[ModelChoiceIteratorValue, str]]:
        """The latest harvests with medium left, then those chosen (in the data sent, in the
        initial ?harvests=, or the run's own when it is corrected). Three queries at most."""
        if self.is_bound:
            chosen = field.widget.value_from_datadict(
                self.data, self.files, self.add_prefix("harvests")
            )
        else:
            chosen = self.get_initial_for_field(field, "harvests") or []
        chosen_ids = {int(pk) for pk in (getattr(c, "pk", c) for c in chosen) if str(pk).isdigit()}
        latest = with_taken_volumes(field.queryset[: self.HARVESTS_SCANNED])
        offered = [h for h in latest if h.remaining_volume_ml > 0][: self.HARVESTS_OFFERED]
        missing = chosen_ids - {h.pk for h in offered}
        if missing:
            offered += field.queryset.filter(pk__in=missing)
        offered.sort(key=lambda h: (h.harvested_at, h.pk), reverse=True)
        return [
            (ModelChoiceIteratorValue(field.prepare_value(h), h), field.label_from_instance(h))
            for h in offered
        ]

    def clean(self):
        data = super().clean()
        start, end = data.get("started_at"), data.get("ended_at")
        if start and end and end < start:
            self.add_error("ended_at", "The run cannot end before it starts.")
        volume_in, volume_out = data.get("input_volume_ml"), data.get("output_volume_ml")
        if volume_in and volume_out:
            try:  # the database refuses it too (isolation_output_within_input)
                services.check_output_within_input(
                    input_volume_ml=volume_in, output_volume_ml=volume_out
                )
            except forms.ValidationError as exc:
                self.add_error(None, exc)
        if data.get("reagent_lots") and start:
            try:
                services.check_reagents_usable(data["reagent_lots"], on=timezone.localdate(start))
            except forms.ValidationError as exc:
                self.add_error(None, exc)
        return data

    def parameters(self) -> dict:
        return {
            name: self.cleaned_data[name]
            for name in self.PARAMETER_FIELDS
            if self.cleaned_data.get(name) is not None
        }


class ExosomeLotForm(BootstrapMixin, forms.ModelForm):
    # Typed codes, not a checkbox for every run of the history (lims.code_fields).
    isolation_runs = CodeListField(
        IsolationRun.objects.all(),
        refuse=refuse_voided,
        help_text="Isolation run codes, separated by commas.",
    )

    class Meta:
        model = ExosomeLot
        fields = ["isolation_runs", "manufactured_on", "volume_ml", "notes"]
        widgets = {"manufactured_on": DATE, "notes": forms.Textarea(attrs={"rows": 2})}
        labels = {"volume_ml": "Volume (mL)"}


class StorageLocationForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = StorageLocation
        fields = ["freezer", "rack", "box", "position"]


def refuse_voided_position(location: StorageLocation) -> str | None:
    if location.voided_at is not None:
        return f"Storage position {location} is voided."
    return None


def refuse_filling(location: StorageLocation) -> str | None:
    """A vial is filled into a position neither voided nor holding a vial (the service's
    check_position_free says the same)."""
    try:
        holder = location.aliquot
    except Aliquot.DoesNotExist:
        return refuse_voided_position(location)
    return refuse_voided_position(location) or services.position_occupied(location, holder)


class AliquotFillForm(BootstrapMixin, forms.Form):
    """Fill N vials of a lot into consecutive free positions of one box."""

    count = forms.IntegerField(min_value=1, max_value=500, label="Number of vials")
    volume_ul = forms.DecimalField(
        min_value=0.1, max_digits=10, decimal_places=1, label="Volume per vial (µL)"
    )
    # Typed as its label, not a <select> of every free position (100,000 at a busy site):
    # found on the position's index (lims.code_fields); an unknown, voided or occupied
    # position is refused next to the field, as the service would refuse it.
    first_location = StoragePositionField(
        StorageLocation.objects.select_related("aliquot"),  # its holder, in the same query
        required=False,
        refuse=refuse_filling,
        label="First storage position",
        help_text=(
            "Freezer / rack / box / position, as on the box label (e.g. ULT-1 / R1 / B3 / A01). "
            "Vials go into this position and the following free ones of the same box; "
            "leave empty for vials not yet stored."
        ),
    )

    def clean(self):
        data = super().clean()
        first, count = data.get("first_location"), data.get("count")
        if first and count:
            free = list(
                StorageLocation.objects.filter(
                    freezer=first.freezer,
                    rack=first.rack,
                    box=first.box,
                    aliquot__isnull=True,
                    voided_at__isnull=True,
                    position__gte=first.position,
                ).order_by("position")[:count]
            )
            if len(free) < count:
                self.add_error(
                    "count",
                    f"Only {len(free)} free positions from {first.position} in box {first.box}.",
                )
            data["locations"] = free
        elif count:
            data["locations"] = [None] * count
        return data


class AliquotMoveForm(BootstrapMixin, forms.Form):
    # Typed as its label, not a <select> of every position (see AliquotFillForm).
    to_location = StoragePositionField(
        StorageLocation.objects.all(),
        required=False,
        refuse=refuse_voided_position,
        label="New position",
        help_text=(
            "Freezer / rack / box / position, as on the box label (e.g. ULT-1 / R1 / B3 / A01); "
            "leave empty to take the vial out of storage."
        ),
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, aliquot: Aliquot, **kwargs):
        super().__init__(*args, **kwargs)
        self.aliquot = aliquot

    def clean_to_location(self):
        location = self.cleaned_data["to_location"]
        try:
            services.check_position_free(location, moving=self.aliquot)
        except forms.ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["location"]) from exc
        return location
