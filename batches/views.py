"""Pages for production records: lists, details, creation, corrections, voiding, status moves."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from weasyprint import HTML

from batches import filters, forms, services
from batches.correction_forms import CORRECTION_FORMS
from batches.genealogy import lot_genealogy
from batches.labels import label_rows, zpl_labels
from batches.models import (
    Aliquot,
    CellBank,
    CultureBatch,
    Donor,
    ExosomeLot,
    Harvest,
    IsolationRun,
    ReagentLot,
    StorageLocation,
    with_taken_volumes,
)
from lims.forms import ReasonForm, SignedStatusForm, StatusForm
from lims.models import Signature
from lims.pages import (
    RecordDetailView,
    RecordListView,
    ServiceFormView,
    add_service_errors,
)
from lims.roles import can_view_records
from lims.subqueries import related_count
from lims.transitions import allowed_moves, moves_for

# --- Lists ----------------------------------------------------------------------------------


class DonorList(RecordListView):
    model = Donor
    filterset_class = filters.DonorFilter
    default_sort = "code"
    create_url_name = "batches:donor_create"
    columns = [
        ("Code", "code", "code"),
        ("Tissue", "get_tissue_source_display", "tissue_source"),
        ("Consent", "consent_reference", None),
        ("Registered", "created_at", "created_at"),
    ]


class CellBankList(RecordListView):
    model = CellBank
    filterset_class = filters.CellBankFilter
    select_related = ("donor",)
    create_url_name = "batches:cellbank_create"
    columns = [
        ("Code", "code", "code"),
        ("Type", "get_bank_type_display", "bank_type"),
        ("Donor", "donor", "donor__code"),
        ("Passage", "passage", "passage"),
        ("Vials", "vials", "vials"),
        ("Frozen", "frozen_on", "frozen_on"),
    ]


class ReagentLotList(RecordListView):
    model = ReagentLot
    filterset_class = filters.ReagentLotFilter
    default_sort = "expiry_date"
    create_url_name = "batches:reagentlot_create"
    columns = [
        ("Name", "name", "name"),
        ("Category", "get_category_display", "category"),
        ("Supplier", "supplier", "supplier"),
        ("Catalogue", "catalogue_number", None),
        ("Lot", "lot_number", "lot_number"),
        ("Expiry", "expiry_date", "expiry_date"),
    ]


class CultureBatchList(RecordListView):
    model = CultureBatch
    filterset_class = filters.CultureBatchFilter
    select_related = ("cell_bank__donor",)
    create_url_name = "batches:culturebatch_create"
    columns = [
        ("Batch", "code", "code"),
        ("Status", "get_status_display", "status"),
        ("Cell bank", "cell_bank", "cell_bank__code"),
        ("Donor", "cell_bank.donor", "cell_bank__donor__code"),
        ("Started", "started_on", "started_on"),
    ]


class IsolationRunList(RecordListView):
    model = IsolationRun
    filterset_class = filters.IsolationRunFilter
    select_related = ("operator",)
    default_sort = "-started_at"
    create_url_name = "batches:isolationrun_create"
    columns = [
        ("Run", "code", "code"),
        ("Method", "get_method_display", "method"),
        ("Input (mL)", "input_volume_ml", "input_volume_ml"),
        ("Output (mL)", "output_volume_ml", "output_volume_ml"),
        ("Operator", "operator", "operator__username"),
        ("Started", "started_at", "started_at"),
    ]


class ExosomeLotList(RecordListView):
    model = ExosomeLot
    filterset_class = filters.ExosomeLotFilter
    create_url_name = "batches:exosomelot_create"
    columns = [
        ("Lot", "code", "code"),
        ("Status", "get_status_display", "status"),
        ("Manufactured", "manufactured_on", "manufactured_on"),
        ("Volume (mL)", "volume_ml", "volume_ml"),
        ("Vials", "vial_count", "vial_count"),
    ]

    def annotate(self, qs):
        if self.sort_key().lstrip("-") == "vial_count":
            # Sorted by it: every lot's count, in one pass over the vials (a GROUP BY costs
            # less than a subquery per lot when all of them are wanted).
            return qs.annotate(vial_count=Count("aliquots"))
        # Otherwise a count for the 25 lots shown only (lims.subqueries.related_count).
        return qs.annotate(vial_count=related_count(Aliquot.objects.all(), "lot"))


class AliquotList(RecordListView):
    model = Aliquot
    filterset_class = filters.AliquotFilter
    select_related = ("lot", "location")
    default_sort = "barcode"
    columns = [
        ("Barcode", "barcode", "barcode"),
        ("Lot", "lot", "lot__code"),
        ("Volume (µL)", "volume_ul", "volume_ul"),
        ("Status", "get_status_display", "status"),
        ("Position", "location", "location__freezer"),
    ]


class StorageLocationList(RecordListView):
    model = StorageLocation
    filterset_class = filters.StorageLocationFilter
    select_related = ("aliquot",)
    default_sort = "freezer"
    create_url_name = "batches:storagelocation_create"
    title = "Storage positions"
    columns = [
        ("Freezer", "freezer", "freezer"),
        ("Rack", "rack", "rack"),
        ("Box", "box", "box"),
        ("Position", "position", "position"),
        ("Vial", "aliquot", None),
    ]

    def get_queryset(self):
        # Ends with the primary key, as every list's ordering does: a total order, so a page
        # read backwards (NearerEndPaginator) holds the same rows.
        return super().get_queryset().order_by(self.sort_key(), "rack", "box", "position", "pk")


# --- Details --------------------------------------------------------------------------------


class DonorDetail(RecordDetailView):
    model = Donor
    template_name = "batches/donor_detail.html"


class CellBankDetail(RecordDetailView):
    model = CellBank
    template_name = "batches/cellbank_detail.html"
    queryset = CellBank.objects.select_related("donor", "parent_bank")


class ReagentLotDetail(RecordDetailView):
    model = ReagentLot
    template_name = "batches/reagentlot_detail.html"


class StorageLocationDetail(RecordDetailView):
    model = StorageLocation
    template_name = "batches/storagelocation_detail.html"


class CultureBatchDetail(RecordDetailView):
    model = CultureBatch
    template_name = "batches/culturebatch_detail.html"
    queryset = CultureBatch.objects.select_related("cell_bank__donor").prefetch_related(
        "passages", "harvests", Prefetch("reagent_lots", queryset=ReagentLot.objects.all())
    )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["allowed_moves"] = moves_for(
            self.object, services.CULTURE_BATCH_MOVES, self.request.user
        )
        context["harvests"] = with_taken_volumes(self.object.harvests.all())
        return context


class IsolationRunDetail(RecordDetailView):
    model = IsolationRun
    template_name = "batches/isolationrun_detail.html"
    queryset = IsolationRun.objects.select_related("operator").prefetch_related(
        Prefetch("harvests", queryset=Harvest.objects.select_related("batch")),
        "reagent_lots",
        "lots",
    )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        inputs = list(self.object.inputs.select_related("harvest__batch").order_by("pk"))
        with_taken_volumes(i.harvest for i in inputs)
        context["inputs"] = inputs
        return context


class ExosomeLotDetail(RecordDetailView):
    model = ExosomeLot
    template_name = "batches/exosomelot_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["genealogy"] = lot_genealogy(self.object)
        context["aliquots"] = self.object.aliquots.select_related("location")
        context["status_choices"] = moves_for(self.object, services.LOT_MOVES, self.request.user)
        return context


class AliquotDetail(RecordDetailView):
    model = Aliquot
    template_name = "batches/aliquot_detail.html"
    queryset = Aliquot.objects.select_related("lot", "location")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["moves"] = self.object.moves.select_related("from_location", "to_location")
        return context


# --- Creation -------------------------------------------------------------------------------


class DonorCreate(ServiceFormView):
    form_class = forms.DonorForm
    title = "Register a donor"
    service = staticmethod(services.donor_create)


class CellBankCreate(ServiceFormView):
    form_class = forms.CellBankForm
    title = "Register a cell bank"
    service = staticmethod(services.cell_bank_create)


class ReagentLotCreate(ServiceFormView):
    form_class = forms.ReagentLotForm
    title = "Receive a reagent lot"
    service = staticmethod(services.reagent_lot_create)


class StorageLocationCreate(ServiceFormView):
    form_class = forms.StorageLocationForm
    title = "Register a storage position"
    service = staticmethod(services.storage_location_create)


class CultureBatchCreate(ServiceFormView):
    form_class = forms.CultureBatchForm
    title = "Start a culture batch"
    service = staticmethod(services.culture_batch_create)


class IsolationRunCreate(ServiceFormView):
    form_class = forms.IsolationRunForm
    title = "Record an isolation run"

    def get_initial(self):
        # "Isolate" on a harvest's row opens this form with that harvest ticked (?harvests=pk).
        return {"operator": self.request.user, "harvests": _pks(self.request.GET, "harvests")}

    def perform(self, form):
        data = {k: v for k, v in form.cleaned_data.items() if k not in form.PARAMETER_FIELDS}
        return services.isolation_run_create(
            actor=self.request.user, parameters=form.parameters(), **data
        )


class ExosomeLotCreate(ServiceFormView):
    form_class = forms.ExosomeLotForm
    title = "Register an exosome lot"
    service = staticmethod(services.lot_create)

    def get_initial(self):
        # "Register a lot from this run" on an isolation run's page (?isolation_runs=pk).
        runs = _pks(self.request.GET, "isolation_runs")
        return {"isolation_runs": list(IsolationRun.objects.filter(pk__in=runs).order_by("pk"))}


def _pks(query, name: str) -> list[int]:
    """The record ids a next-step link names, to tick in a form (anything else is ignored: the
    form offers only what may be chosen, and the service checks again on save)."""
    return [int(v) for v in query.getlist(name) if v.isdigit()][:20]


class _ChildOfBatch(ServiceFormView):
    def dispatch(self, request, *args, **kwargs):
        self.batch = get_object_or_404(CultureBatch, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self):
        return self.batch.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["parent"] = self.batch
        return context


class PassageCreate(_ChildOfBatch):
    form_class = forms.PassageForm

    @property
    def title(self):
        return f"Record a passage of {self.batch}"

    def get_initial(self):
        last = self.batch.passages.order_by("-number").first()
        return {"number": (last.number + 1) if last else 1}

    def perform(self, form):
        return services.passage_record(
            actor=self.request.user, batch=self.batch, **form.cleaned_data
        )


class HarvestCreate(_ChildOfBatch):
    form_class = forms.HarvestForm

    @property
    def title(self):
        return f"Record a harvest of {self.batch}"

    def perform(self, form):
        return services.harvest_record(
            actor=self.request.user, batch=self.batch, **form.cleaned_data
        )


class AliquotFill(ServiceFormView):
    form_class = forms.AliquotFillForm

    def dispatch(self, request, *args, **kwargs):
        self.lot = get_object_or_404(ExosomeLot, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Fill vials of lot {self.lot}"

    def perform(self, form):
        return services.aliquots_create(
            actor=self.request.user,
            lot=self.lot,
            volume_ul=form.cleaned_data["volume_ul"],
            locations=form.cleaned_data["locations"],
        )

    def success_message(self):
        return f"{len(self.result)} vials of {self.lot} recorded."

    def get_success_url(self):
        return self.lot.get_absolute_url()


class AliquotMoveView(ServiceFormView):
    def dispatch(self, request, *args, **kwargs):
        self.aliquot = get_object_or_404(Aliquot, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, form_class=None):
        return forms.AliquotMoveForm(aliquot=self.aliquot, **self.get_form_kwargs())

    @property
    def title(self):
        return f"Move vial {self.aliquot}"

    def perform(self, form):
        services.aliquot_move(actor=self.request.user, aliquot=self.aliquot, **form.cleaned_data)
        return self.aliquot

    def success_message(self):
        return f"Vial {self.aliquot} moved."

    def get_success_url(self):
        # Back to the box grid the move was started from (?next=); only a path on this site,
        # never an address elsewhere (an open redirect).
        target = self.request.GET.get("next", "")
        if url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            return target
        return super().get_success_url()


# --- Status moves, corrections and voiding ---------------------------------------------------

# model name -> (model, who makes which move, the service of a plain move)
STATUS_SERVICES = {
    "culturebatch": (
        CultureBatch,
        services.CULTURE_BATCH_MOVES,
        lambda actor, obj, to, reason: services.move_culture_batch(
            actor=actor, batch=obj, to=to, reason=reason
        ),
    ),
    "exosomelot": (
        ExosomeLot,
        services.LOT_MOVES,
        lambda actor, obj, to, reason: services.lot_set_status(
            actor=actor, lot=obj, to=to, reason=reason
        ),
    ),
    "aliquot": (
        Aliquot,
        services.ALIQUOT_MOVES,
        lambda actor, obj, to, reason: services.aliquot_set_status(
            actor=actor, aliquot=obj, to=to, reason=reason
        ),
    ),
}
# model name -> the service of a signed move (a lot's quarantine lifted by QA)
SIGNED_STATUS_SERVICES = {
    "exosomelot": lambda signer, obj, to, reason, comment: services.lot_lift_quarantine(
        signer=signer, lot=obj, to=to, reason=reason, comment=comment
    ),
}


class StatusChange(ServiceFormView):
    """Move a record to another status, with a reason: only the moves its transition table
    allows and the user's role may make (the service's table of moves, checked again by the
    service); a signed move asks for the user ID and password again (21 CFR 11.200)."""

    predicate = staticmethod(can_view_records)

    def dispatch(self, request, *args, **kwargs):
        if kwargs["model"] not in STATUS_SERVICES:
            raise Http404
        self.model, self.moves, self.service = STATUS_SERVICES[kwargs["model"]]
        self.object = get_object_or_404(self.model, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def test_func(self):
        user = self.request.user
        if not can_view_records(user):
            return False
        if moves_for(self.object, self.moves, user):
            return True
        # The record's status has moves, and all of them are someone else's: 403. A status with
        # none (a released lot) shows the empty form to whoever makes moves of such records.
        status = self.object.status
        if any((status, to) in self.moves for to in allowed_moves(self.object)):
            return False
        return any(rule.allowed(user) for rule in self.moves.values())

    def offered(self) -> list[str]:
        return moves_for(self.object, self.moves, self.request.user)

    def signed_meaning(self) -> str:
        """The meaning of the e-signature the offered moves need ("" for none)."""
        rules = [self.moves[(self.object.status, to)] for to in self.offered()]
        return next((rule.signed for rule in rules if rule.signed), "")

    def get_form(self, form_class=None):
        status_labels = dict(self.model.Status.choices)
        choices = [(s, status_labels[s]) for s in self.offered()]
        form_class = SignedStatusForm if self.signed_meaning() else StatusForm
        return form_class(choices=choices, **self.get_form_kwargs())

    def get_initial(self):
        return {"to": self.request.GET.get("to", "")}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        meaning = self.signed_meaning()
        context.update(
            signing=bool(meaning), meaning=Signature.Meaning(meaning).label if meaning else ""
        )
        return context

    @property
    def title(self):
        if self.object.status == ExosomeLot.Status.QUARANTINED and self.signed_meaning():
            return f"Lift the quarantine of lot {self.object}"
        return f"Change the status of {self.object}"

    def form_valid(self, form):
        data = form.cleaned_data
        rule = self.moves.get((self.object.status, data["to"]))
        if rule is None or not rule.signed:
            return super().form_valid(form)
        try:
            # Re-authentication outside the service's transaction: a refused password stays
            # counted by django-axes (11.300(d)).
            signer = form.signer(self.request, rule.signed)
            self.result = SIGNED_STATUS_SERVICES[self.kwargs["model"]](
                signer, self.object, data["to"], data["reason"], data["comment"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message())
        return redirect(self.get_success_url())

    def perform(self, form):
        data = form.cleaned_data
        return self.service(self.request.user, self.object, to=data["to"], reason=data["reason"])

    def success_message(self):
        return f"{self.result} is now {self.result.get_status_display().lower()}."


# model name (as in URLs) -> (model, its correction form): every production record is corrected
# and voided from its page, with a reason (batches.services.record_update / record_void).
EDITABLE = CORRECTION_FORMS


def _page_of(record) -> str:
    """The page a record shows on: its own, or its culture batch's (passages, harvests)."""
    if hasattr(record, "get_absolute_url"):
        return record.get_absolute_url()
    return record.batch.get_absolute_url()


class RecordCorrect(ServiceFormView):
    """Correct a record: the changed fields and a reason go into the audit trail."""

    template_name = "records/correct.html"

    def dispatch(self, request, *args, **kwargs):
        if kwargs["model"] not in EDITABLE:
            raise Http404
        self.model, self.edit_form_class = EDITABLE[kwargs["model"]]
        self.object = get_object_or_404(self.model, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, form_class=None):
        return self.edit_form_class(instance=self.object, **self.get_form_kwargs())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("reason_form", ReasonForm(self.request.POST or None))
        return context

    @property
    def title(self):
        return f"Correct {self.object}"

    def post(self, request, *args, **kwargs):
        form = self.get_form()
        reason_form = ReasonForm(request.POST)
        if form.is_valid() and reason_form.is_valid():
            changed = form.changes()
            if not changed:
                form.add_error(None, "Nothing was changed.")
                return self.render_to_response(
                    self.get_context_data(form=form, reason_form=reason_form)
                )
            try:
                self.result = services.record_update(
                    self.object,
                    actor=request.user,
                    changes=changed,
                    reason=reason_form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"{self.result} corrected.")
                return redirect(self.get_success_url())
        return self.render_to_response(self.get_context_data(form=form, reason_form=reason_form))

    def get_success_url(self):
        return _page_of(self.result)


class RecordVoid(ServiceFormView):
    """Void a record with a reason (GMP records are never deleted)."""

    form_class = ReasonForm
    template_name = "records/form.html"

    def dispatch(self, request, *args, **kwargs):
        if kwargs["model"] not in EDITABLE:
            raise Http404
        self.model = EDITABLE[kwargs["model"]][0]
        self.object = get_object_or_404(self.model, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Void {self.object}"

    def perform(self, form):
        return services.record_void(self.object, actor=self.request.user, **form.cleaned_data)

    def success_message(self):
        return f"{self.result} voided."

    def get_success_url(self):
        return _page_of(self.result)


@login_required
def lot_redirect(request, code):
    # A lot code is a record like any other: not even its existence is shown to outsiders.
    if not can_view_records(request.user):
        raise PermissionDenied("Your role does not allow this.")
    lot = get_object_or_404(ExosomeLot, code=code)
    return redirect(reverse("batches:exosomelot_detail", args=[lot.pk]))


# --- Labels ---------------------------------------------------------------------------------


def _lot_vials(request, pk):
    if not can_view_records(request.user):
        raise PermissionDenied("Your role does not allow this.")
    lot = get_object_or_404(ExosomeLot, pk=pk)
    vials = list(lot.aliquots.select_related("lot", "location").order_by("number"))
    return lot, vials


def lot_labels(request, pk):
    """Printable label sheet (HTML); ?format=pdf for a PDF, ?format=zpl for Zebra printers."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    lot, vials = _lot_vials(request, pk)
    fmt = request.GET.get("format", "html")
    if fmt == "zpl":
        response = HttpResponse(zpl_labels(vials), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{lot.code}-labels.zpl"'
        return response
    context = {"lot": lot, "labels": label_rows(vials)}
    if fmt == "pdf":
        html = render_to_string("batches/labels_print.html", context, request=request)
        pdf = HTML(string=html, base_url=request.build_absolute_uri("/")).write_pdf()
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{lot.code}-labels.pdf"'
        return response
    return render(request, "batches/labels.html", context)
