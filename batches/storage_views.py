"""Storage pages drawn as boxes: freezers → racks → boxes, a box as a grid of its positions,
laying out a box's positions in one step, and placing a vial in an empty position.

Moving a vial that is already in a box is the vial's move page (batches.views.AliquotMoveView),
which the grid links each occupied position to; placing and moving both go through
batches.services.aliquot_move.
"""

from urllib.parse import urlencode

from django import forms
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.generic import TemplateView

from batches import storage
from batches.models import Aliquot, StorageLocation
from lims.forms import BootstrapMixin
from lims.pages import ServiceFormView, ViewRecordsMixin
from lims.templatetags.lims_tags import STATUS_COLOURS


def box_url(freezer: str, rack: str, box: str) -> str:
    query = urlencode({"freezer": freezer, "rack": rack, "box": box})
    return f"{reverse('batches:storage_box')}?{query}"


class StorageOverview(ViewRecordsMixin, TemplateView):
    """Every freezer with its racks and boxes, and how full each box is (one query)."""

    template_name = "batches/storage/overview.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        tree = storage.storage_tree()
        for racks in tree.values():
            for boxes in racks.values():
                for row in boxes:
                    row["url"] = box_url(row["freezer"], row["rack"], row["box"])
        context["freezers"] = tree
        return context


class BoxView(ViewRecordsMixin, TemplateView):
    """One box as a grid: a row per letter, a column per number, each position a link (place a
    vial in an empty one, move the vial of an occupied one). One query for the whole box."""

    template_name = "batches/storage/box.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        freezer, rack, box = (params.get(k, "") for k in ("freezer", "rack", "box"))
        if any("\x00" in name for name in (freezer, rack, box)):
            raise Http404("No such box.")  # no stored name holds NUL, nor can PostgreSQL take it
        locations = list(storage.box_locations(freezer, rack, box))
        if not locations:
            raise Http404("No such box.")
        grid = storage.box_grid(locations, freezer=freezer, rack=rack, box=box)
        for _, cells in grid.rows:
            for cell in cells:
                if cell.vial is not None:
                    cell.colour = STATUS_COLOURS.get(cell.vial.status, "light")
        context.update(
            grid=grid,
            legend=[
                (label, STATUS_COLOURS.get(value, "light"))
                for value, label in Aliquot.Status.choices
            ],
        )
        return context


class BoxForm(BootstrapMixin, forms.Form):
    freezer = forms.CharField(max_length=StorageLocation._meta.get_field("freezer").max_length)
    rack = forms.CharField(max_length=StorageLocation._meta.get_field("rack").max_length)
    box = forms.CharField(max_length=StorageLocation._meta.get_field("box").max_length)
    layout = forms.ChoiceField(choices=storage.LAYOUT_CHOICES, label="Layout (rows × columns)")


class BoxCreate(ServiceFormView):
    """Register all the positions of a new box at once (A1…I9 or A1…J10)."""

    form_class = BoxForm
    title = "Lay out a storage box"

    def perform(self, form):
        return storage.box_create(actor=self.request.user, **form.cleaned_data)

    def get_initial(self):
        return {k: self.request.GET.get(k, "") for k in ("freezer", "rack")} | {"layout": "9x9"}

    def success_message(self):
        first = self.result[0]
        where = f"{first.freezer} / {first.rack} / {first.box}"
        return f"Box {where}: {len(self.result)} positions registered."

    def get_success_url(self):
        first = self.result[0]
        return box_url(first.freezer, first.rack, first.box)


class VialPlaceForm(BootstrapMixin, forms.Form):
    barcode = forms.CharField(
        max_length=Aliquot._meta.get_field("barcode").max_length,
        label="Vial barcode",
        help_text="Scan the vial's label or type its barcode.",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class VialPlace(ServiceFormView):
    """Put a vial (scanned or typed) into an empty position of a box."""

    form_class = VialPlaceForm
    template_name = "batches/storage/place.html"

    def dispatch(self, request, *args, **kwargs):
        self.location = get_object_or_404(
            StorageLocation.objects.select_related("aliquot"), pk=kwargs["pk"]
        )
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Place a vial in {self.location}"

    def get_initial(self):
        return {"barcode": self.request.GET.get("barcode", "")}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        try:
            holder = self.location.aliquot
        except Aliquot.DoesNotExist:
            holder = None
        context.update(
            location=self.location,
            holder=holder,
            box_url=box_url(self.location.freezer, self.location.rack, self.location.box),
        )
        return context

    def perform(self, form):
        return storage.vial_place(
            actor=self.request.user, location=self.location, **form.cleaned_data
        )

    def success_message(self):
        return f"Vial {self.result.aliquot} placed in {self.location}."

    def get_success_url(self):
        loc = self.location
        return box_url(loc.freezer, loc.rack, loc.box)
