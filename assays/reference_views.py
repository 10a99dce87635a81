"""Pages of the reference standards: the list (status, expiry, "expires soon"), a reference's
page (assigned values, QA's qualification signature, the runs that used it, its audit trail),
registration (QC analysts and QA), qualification with an e-signature and withdrawal (QA).

Every write is the service's (assays.reference_services); a refusal shows next to its field.
"""

from datetime import timedelta

import django_filters
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import FormView

from assays.models import QCMetric
from assays.reference_forms import ReferenceQualifyForm, ReferenceRegisterForm
from assays.reference_models import ReferenceStandard, RunReferenceStandard
from assays.reference_services import reference_qualify, reference_register, reference_withdraw
from lims.forms import ReasonForm
from lims.models import Signature
from lims.pages import (
    PredicateRequiredMixin,
    RecordDetailView,
    RecordListView,
    ServiceFormView,
    add_service_errors,
)
from lims.roles import can_approve_control_baselines, can_propose_control_baselines
from lims.signatures import format_signed_time, is_valid

EXPIRES_SOON_DAYS = 30
RUNS_SHOWN = 50
Status = ReferenceStandard.Status


def expiry_state(reference: ReferenceStandard, today) -> str:
    """ "expired", "expires_soon" (within EXPIRES_SOON_DAYS) or ""."""
    if reference.expiry_date < today:
        return "expired"
    if reference.expiry_date <= today + timedelta(days=EXPIRES_SOON_DAYS):
        return "expires_soon"
    return ""


class ReferenceFilter(django_filters.FilterSet):
    material = django_filters.CharFilter(lookup_expr="iexact", label="Material")
    status = django_filters.ChoiceFilter(choices=Status.choices, label="Status")

    class Meta:
        model = ReferenceStandard
        fields = ["material", "status"]


class ReferenceList(RecordListView):
    model = ReferenceStandard
    filterset_class = ReferenceFilter
    template_name = "assays/reference_list.html"
    title = "Reference standards"
    default_sort = "material"
    select_related = ("source_lot", "qualification_signature")
    columns = [
        ("Code", "code", "code"),
        ("Material", "material", "material"),
        ("Name", "name", "name"),
        ("Status", "status", "status"),
        ("Assays", "assay_codes", None),
        ("Expiry", "expiry_date", "expiry_date"),
        ("Storage", "storage", None),
    ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        for reference in context["object_list"]:
            reference.expiry_state = expiry_state(reference, today)
        context.update(
            can_register=can_propose_control_baselines(self.request.user),
            expires_soon_days=EXPIRES_SOON_DAYS,
        )
        return context


class ReferenceDetail(RecordDetailView):
    model = ReferenceStandard
    template_name = "assays/reference_detail.html"
    queryset = ReferenceStandard.objects.select_related(
        "source_lot", "created_by", "qualification_signature"
    )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reference = self.object
        signature = reference.qualification_signature
        uses = (
            RunReferenceStandard.objects.filter(reference=reference)
            .select_related("run__assay", "run__operator")
            .order_by("-run__started_at", "-pk")
        )
        user = self.request.user
        context.update(
            expiry_state=expiry_state(reference, timezone.localdate()),
            signature=signature,
            signature_valid=signature is not None
            and is_valid(signature, reference.signed_content()),
            signed_at=format_signed_time(signature.signed_at) if signature else "",
            run_uses=uses[:RUNS_SHOWN],
            run_count=uses.count(),
            runs_shown=RUNS_SHOWN,
            may_qualify=can_approve_control_baselines(user)
            and reference.status == Status.REGISTERED
            and reference.created_by_id != user.pk,
            may_withdraw=can_approve_control_baselines(user)
            and reference.status != Status.WITHDRAWN,
        )
        return context


class ReferenceRegister(ServiceFormView):
    predicate = staticmethod(can_propose_control_baselines)
    form_class = ReferenceRegisterForm
    title = "Register a reference standard"

    def perform(self, form):
        return reference_register(actor=self.request.user, **form.cleaned_data)

    def success_message(self):
        return (
            f"Reference standard {self.result} registered: QA qualifies it before any run uses it."
        )


class _OfReference(PredicateRequiredMixin, FormView):
    predicate = staticmethod(can_approve_control_baselines)
    template_name = "assays/reference_form.html"

    def dispatch(self, request, *args, **kwargs):
        self.reference = get_object_or_404(ReferenceStandard, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["reference"] = self.reference
        return context


class ReferenceQualify(_OfReference):
    """QA's qualification, e-signed (meaning: approval), bound to the reference's content."""

    form_class = ReferenceQualifyForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "reference": self.reference, "user": self.request.user}

    def form_valid(self, form):
        try:
            # Re-authentication before the service's transaction: a refusal stays counted.
            signer = form.signer(self.request, Signature.Meaning.APPROVAL)
            reference = reference_qualify(
                signer=signer, reference=self.reference, comment=form.cleaned_data["comment"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"{reference} qualified, signed by {reference.qualification_signature.printed_name}.",
        )
        return redirect(reference)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "title": "Qualify", "signing": True}


class ReferenceWithdraw(_OfReference):
    form_class = ReasonForm

    def form_valid(self, form):
        try:
            reference = reference_withdraw(
                actor=self.request.user,
                reference=self.reference,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"{reference} withdrawn: no run can name it from now on.")
        return redirect(reference)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "title": "Withdraw", "signing": False}


RELATIVE_POTENCY_CODE = "potency.relative_potency"


def run_reference_context(run) -> dict:
    """What a run's page shows of its reference standard and, when computed, the relative
    potency against it: the value, its 95 % interval and the parallelism verdict (two
    queries)."""
    use = (
        RunReferenceStandard.objects.filter(run=run)
        .select_related("reference", "reference__qualification_signature")
        .first()
    )
    metric = (
        QCMetric.objects.filter(run=run, code=RELATIVE_POTENCY_CODE)
        .order_by("-computed_at", "-pk")
        .first()
    )
    return {"reference_use": use, "relative_potency": metric}
