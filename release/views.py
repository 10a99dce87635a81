"""Pages of the release: the dashboard, QA's review by exception and signed disposition, the
certificate of analysis, specifications, and deviations with their CAPA.

Every write goes through one service (release.services, release.specifications). Views that sign
call their service outside any transaction of their own: the service re-authenticates before
it opens its transaction, so a refused password stays counted by django-axes (11.300).
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView
from django_filters.views import FilterView

from batches.models import ExosomeLot
from lims import file_store
from lims.audit_trail import events_of
from lims.forms import ReasonForm
from lims.models import Signature
from lims.pages import (
    PredicateRequiredMixin,
    ViewRecordsMixin,
    add_service_errors,
    original_unavailable,
)
from lims.roles import (
    can_handle_deviations,
    can_manage_specifications,
    can_open_deviations,
    can_review_audit_trails,
    can_sign_dispositions,
    can_view_audit_trail,
    can_view_records,
    can_view_release_review,
)
from lims.signatures import is_valid
from release import audit_reviews, deviations, specifications
from release import forms as release_forms
from release import selectors as release_selectors
from release import services as release
from release.certificate import certificate_bytes
from release.filters import DeviationFilter
from release.models import (
    AuditTrailReview,
    CapaAction,
    Criterion,
    Deviation,
    Disposition,
    Specification,
)
from release.stability import current_expiry


class ReleaseFormView(PredicateRequiredMixin, FormView):
    """A form whose valid data goes to one service; its refusals show on the form.

    `signing = True`: perform() re-authenticates the signer (form.signer) before the service's
    transaction opens, so that a refused attempt is not rolled back (and stays counted).
    """

    template_name = "release/form.html"
    title = ""
    intro = ""
    signing = False
    meaning = ""
    submit_label = "Save"

    def perform(self, form):
        raise NotImplementedError

    def form_valid(self, form):
        try:
            if self.signing:
                self.result = self.perform(form)
            else:
                with transaction.atomic():
                    self.result = self.perform(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message())
        return redirect(self.get_success_url())

    def success_message(self) -> str:
        return f"{self.result} saved."

    def get_success_url(self):
        return self.result.get_absolute_url()

    def cancel_url(self) -> str:
        return reverse("release:dashboard")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            title=self.title,
            intro=self.intro,
            signing=self.signing,
            meaning=self.meaning,
            submit_label=self.submit_label,
            cancel_url=self.cancel_url(),
        )
        return context


# --- Dashboard ---------------------------------------------------------------------------------


class Dashboard(ViewRecordsMixin, TemplateView):
    """Lots by status with what blocks each one; the board refreshes itself (htmx, 5 s)."""

    template_name = "release/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["columns"] = release_selectors.release_board()
        context["now"] = timezone.now()
        context["can_review"] = can_view_release_review(self.request.user)
        return context


class DashboardBoard(Dashboard):
    template_name = "release/_dashboard_board.html"


# --- Review by exception and disposition ------------------------------------------------------


class LotReview(PredicateRequiredMixin, View):
    """Everything on the lot's record that needs judgement, what blocks its release, and
    QA's signing form (or why this user may not sign)."""

    predicate = staticmethod(can_view_release_review)

    def dispatch(self, request, *args, **kwargs):
        self.lot = get_object_or_404(ExosomeLot, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        return self.render(release_forms.DispositionForm())

    def post(self, request, *args, **kwargs):
        if not can_sign_dispositions(request.user):
            raise PermissionDenied("Only QA (never an administrator) signs dispositions.")
        form = release_forms.DispositionForm(request.POST)
        conflict = None
        if form.is_valid():
            data = form.cleaned_data
            try:
                disposition = release.lot_dispose(
                    signer=form.signer(request, release.MEANING[data["decision"]]),
                    lot=self.lot,
                    decision=data["decision"],
                    reason=data["reason"],
                    comment=data["comment"],
                )
            except release.DispositionConflict as exc:
                conflict = " ".join(exc.messages)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, _disposition_message(disposition))
                return redirect(self.lot.get_absolute_url())
        self.lot.refresh_from_db()
        return self.render(form, conflict=conflict)

    def render(self, form, conflict=None):
        user = self.request.user
        refusals = release.disposition_refusals(user, self.lot)
        final = self.lot.is_locked
        context = {
            "lot": self.lot,
            "review": release_selectors.lot_review(self.lot),
            "refusals": refusals,
            "may_sign": can_sign_dispositions(user) and not refusals and not final,
            "final": final,
            "dispositions": release_selectors.lot_dispositions(self.lot),
            "form": form,
            "conflict": conflict,
            "reagent_warning_days": release_selectors.REAGENT_WARNING_DAYS,
            "expiry": current_expiry(self.lot),
        }
        return render(self.request, "release/lot_review.html", context)


def _disposition_message(disposition: Disposition) -> str:
    signature = disposition.signature
    text = (
        f"Lot {disposition.lot}: {disposition.get_decision_display().lower()}, signed by "
        f"{signature.printed_name} (meaning: {signature.get_meaning_display().lower()})."
    )
    if disposition.decision == Disposition.Decision.RELEASED:
        text += " The certificate of analysis is issued."
    return text


@login_required
def certificate_download(request, pk):
    """The stored certificate, byte for byte the same on every download."""
    if not can_view_records(request.user):
        raise PermissionDenied("Your role does not allow this.")
    lot = get_object_or_404(ExosomeLot, pk=pk)
    certificate = getattr(lot, "certificate", None)
    if certificate is None:
        # Issued when the release commits (or by the periodic catch-up): a GET never writes.
        raise Http404("No certificate of analysis is issued for this lot (yet).")
    try:
        data = certificate_bytes(certificate)
    except file_store.OriginalUnavailable as exc:
        return original_unavailable(
            request,
            exc,
            what=f"the certificate of analysis of lot {lot.code}",
            sha256=certificate.sha256,
            back_url=reverse("release:lot_review", args=[lot.pk]),
        )
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="CoA-{lot.code}.pdf"'
    response["X-Content-SHA256"] = certificate.sha256
    response["Cache-Control"] = "private, no-store"
    return response


# --- Specifications ----------------------------------------------------------------------------


class SpecificationList(ViewRecordsMixin, ListView):
    template_name = "release/specification_list.html"
    queryset = (
        Specification.objects.select_related("approval_signature")
        .annotate(criteria_count=Count("criteria"))
        .order_by("product", "-version")
    )


class SpecificationDetail(ViewRecordsMixin, DetailView):
    model = Specification
    template_name = "release/specification_detail.html"
    queryset = Specification.objects.select_related("approval_signature")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        spec = self.object
        signature = spec.approval_signature
        context.update(
            criteria=spec.criteria.order_by("position", "pk"),
            signature_valid=signature is not None and is_valid(signature, spec.signed_content()),
            audit_events=events_of(spec),
            has_pending=Specification.objects.filter(
                product=spec.product, status__in=("draft", "approved"), voided_at=None
            ).exists(),
        )
        return context


class _SpecificationForm(ReleaseFormView):
    predicate = staticmethod(can_manage_specifications)

    def dispatch(self, request, *args, **kwargs):
        self.specification = get_object_or_404(Specification, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def cancel_url(self):
        return self.specification.get_absolute_url()

    def get_success_url(self):
        return self.specification.get_absolute_url()


class SpecificationCreate(ReleaseFormView):
    predicate = staticmethod(can_manage_specifications)
    form_class = release_forms.SpecificationDraftForm
    title = "Draft a new specification version"
    intro = (
        "The draft starts as a copy of the criteria of the effective version. It judges no lot "
        "until it is approved with an e-signature and made effective."
    )
    submit_label = "Create draft"

    def get_initial(self):
        return {"product": self.request.GET.get("product", "")}

    def perform(self, form):
        return specifications.specification_draft_create(
            actor=self.request.user, **form.cleaned_data
        )

    def success_message(self):
        return f"{self.result} drafted from the effective version."

    def cancel_url(self):
        return reverse("release:specification_list")


class _CriterionForm(_SpecificationForm):
    form_class = release_forms.CriterionForm

    def dispatch(self, request, *args, **kwargs):
        spec = get_object_or_404(Specification, pk=kwargs["pk"])
        if request.user.is_authenticated and spec.status != Specification.Status.DRAFT:
            if can_manage_specifications(request.user):
                messages.error(
                    request,
                    f"{spec} is {spec.get_status_display().lower()}: its criteria never "
                    "change. Draft a new version instead.",
                )
                return redirect(spec.get_absolute_url())
        return super().dispatch(request, *args, **kwargs)


class CriterionAdd(_CriterionForm):
    @property
    def title(self):
        return f"Add a criterion to {self.specification}"

    def get_initial(self):
        last = self.specification.criteria.order_by("-position").first()
        return {"position": (last.position + 1) if last else 0, "required": True}

    def perform(self, form):
        return specifications.criterion_save(
            actor=self.request.user, specification=self.specification, **form.cleaned_data
        )

    def success_message(self):
        return f"Criterion '{self.result.test}' added to {self.specification}."


class CriterionEdit(_CriterionForm):
    def dispatch(self, request, *args, **kwargs):
        self.criterion = get_object_or_404(
            Criterion, pk=kwargs["criterion"], specification=kwargs["pk"]
        )
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Change '{self.criterion.test}' of {self.specification}"

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        # A copy: the form writes its data onto the instance, and the service re-reads the row.
        kwargs["instance"] = Criterion.objects.get(pk=self.criterion.pk)
        return kwargs

    def perform(self, form):
        return specifications.criterion_save(
            actor=self.request.user,
            specification=self.specification,
            criterion=self.criterion,
            **form.cleaned_data,
        )

    def success_message(self):
        return f"Criterion '{self.result.test}' of {self.specification} changed."


class SpecificationApprove(_SpecificationForm):
    form_class = release_forms.SignatureForm
    signing = True
    meaning = "Approval"
    submit_label = "Sign: approve"

    @property
    def title(self):
        return f"Approve {self.specification}"

    @property
    def intro(self):
        return (
            f"You approve the {self.specification.criteria.count()} criteria of "
            f"{self.specification} as shown on its page. Once approved they never change."
        )

    def perform(self, form):
        return specifications.specification_approve(
            signer=form.signer(self.request, Signature.Meaning.APPROVAL),
            specification=self.specification,
            comment=form.cleaned_data["comment"],
        )

    def success_message(self):
        signature = self.result.approval_signature
        return f"{self.result} approved, signed by {signature.printed_name}."


class SpecificationWithdraw(_SpecificationForm):
    form_class = ReasonForm
    submit_label = "Withdraw the draft"

    @property
    def title(self):
        return f"Withdraw {self.specification}"

    intro = (
        "A withdrawn draft is kept, with who withdrew it and why, and never judges a lot. "
        "The next draft takes the next version number."
    )

    def perform(self, form):
        return specifications.specification_withdraw(
            actor=self.request.user,
            specification=self.specification,
            reason=form.cleaned_data["reason"],
        )

    def success_message(self):
        return f"{self.result} withdrawn."


class SpecificationMakeEffective(_SpecificationForm):
    form_class = forms.Form
    submit_label = "Make effective"

    @property
    def title(self):
        return f"Make {self.specification} effective"

    @property
    def intro(self):
        current = specifications.effective_specification(self.specification.product)
        superseded = f" {current} will be superseded." if current else ""
        return (
            f"From now on, lots that enter testing are judged against {self.specification}."
            f"{superseded} Lots already in testing keep the version they are judged against."
        )

    def perform(self, form):
        return specifications.specification_make_effective(
            actor=self.request.user, specification=self.specification
        )

    def success_message(self):
        return f"{self.result} is effective."


# --- Audit trail reviews ------------------------------------------------------------------------


class AuditTrailReviewList(PredicateRequiredMixin, ListView):
    predicate = staticmethod(can_view_audit_trail)
    template_name = "release/audit_review_list.html"
    paginate_by = 50
    queryset = AuditTrailReview.objects.select_related("lot", "signature")


class AuditTrailReviewCreate(ReleaseFormView):
    predicate = staticmethod(can_review_audit_trails)
    form_class = release_forms.AuditTrailReviewForm
    signing = True
    meaning = "Review"
    submit_label = "Sign: reviewed"
    title = "Review the audit trail"
    intro = (
        "For a lot: its data changed after first entry (the lot, its vials, runs and results), "
        "as its review page lists them. For a period: every event of the trail in it. Your "
        "signature means you reviewed them (EU GMP Annex 11 §9)."
    )

    def get_initial(self):
        return {"lot": self.request.GET.get("lot") or None}

    def perform(self, form):
        data = form.cleaned_data
        return audit_reviews.audit_trail_review_record(
            signer=form.signer(self.request, Signature.Meaning.REVIEW),
            lot=data["lot"],
            period_start=data["period_start"],
            period_end=data["period_end"],
            findings=data["findings"],
        )

    def success_message(self):
        return f"{self.result} signed by {self.result.signature.printed_name}."

    def get_success_url(self):
        if self.result.lot_id:
            return reverse("release:lot_review", args=[self.result.lot_id])
        return reverse("release:audit_review_list")

    def cancel_url(self):
        return reverse("release:audit_review_list")


# --- Deviations ------------------------------------------------------------------------------


class DeviationList(ViewRecordsMixin, FilterView):
    model = Deviation
    filterset_class = DeviationFilter
    template_name = "release/deviation_list.html"
    paginate_by = 25

    def get_queryset(self):
        return Deviation.objects.select_related(
            "lot", "culture_batch", "isolation_run", "storage_location"
        ).order_by("-created_at", "-pk")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET.copy()
        params.pop("page", None)
        context["query"] = params.urlencode()
        return context


class DeviationDetail(ViewRecordsMixin, DetailView):
    model = Deviation
    template_name = "release/deviation_detail.html"
    queryset = Deviation.objects.select_related(
        "lot",
        "culture_batch",
        "isolation_run",
        "storage_location",
        "criterion__specification",
        "metric__run",
        "closure_signature",
        "created_by",
    )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        deviation = self.object
        signature = deviation.closure_signature
        context.update(
            capa_actions=deviation.capa_actions.order_by("due_on", "pk"),
            signature_valid=signature is not None
            and is_valid(signature, deviation.signed_content()),
            can_handle=can_handle_deviations(self.request.user),
            audit_events=events_of(deviation),
            today=timezone.localdate(),
        )
        return context


class DeviationCreate(ReleaseFormView):
    predicate = staticmethod(can_open_deviations)
    form_class = release_forms.DeviationOpenForm
    title = "Open a deviation"
    intro = (
        "A deviation open on a lot, or on a batch, run or storage position of its genealogy, "
        "blocks the lot's release until QA closes it."
    )
    submit_label = "Open deviation"

    def get_initial(self):
        # A record's page links here with its code (?lot=EXO-…), shown in the typed field.
        keys = ("lot", "culture_batch", "isolation_run", "storage_location")
        return {k: self.request.GET[k].strip() for k in keys if self.request.GET.get(k, "").strip()}

    def perform(self, form):
        return deviations.deviation_open(actor=self.request.user, **form.cleaned_data)

    def success_message(self):
        return f"Deviation {self.result} opened."

    def cancel_url(self):
        return reverse("release:deviation_list")


class _DeviationForm(ReleaseFormView):
    predicate = staticmethod(can_handle_deviations)

    def dispatch(self, request, *args, **kwargs):
        self.deviation = get_object_or_404(Deviation, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def cancel_url(self):
        return self.deviation.get_absolute_url()

    def get_success_url(self):
        return self.deviation.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["record"] = self.deviation
        return context


class DeviationInvestigate(_DeviationForm):
    form_class = release_forms.InvestigationForm
    intro = "Saving starts the investigation of an open deviation."
    submit_label = "Save investigation"

    @property
    def title(self):
        return f"Investigate {self.deviation}: {self.deviation.title}"

    def get_initial(self):
        return {
            "root_cause": self.deviation.root_cause,
            "impact_assessment": self.deviation.impact_assessment,
        }

    def perform(self, form):
        return deviations.deviation_investigate(
            actor=self.request.user, deviation=self.deviation, **form.cleaned_data
        )

    def success_message(self):
        return f"Investigation of {self.result} recorded."


class CapaAdd(_DeviationForm):
    form_class = release_forms.CapaForm
    submit_label = "Add action"

    @property
    def title(self):
        return f"Add a CAPA action to {self.deviation}"

    def perform(self, form):
        return deviations.capa_add(
            actor=self.request.user, deviation=self.deviation, **form.cleaned_data
        )

    def success_message(self):
        return f"CAPA action added to {self.deviation}."


class CapaDone(_DeviationForm):
    form_class = release_forms.CapaDoneForm
    submit_label = "Mark done"

    def dispatch(self, request, *args, **kwargs):
        self.action = get_object_or_404(CapaAction, pk=kwargs["action"], deviation=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Mark done: {self.action.description[:80]}"

    def perform(self, form):
        return deviations.capa_done(
            actor=self.request.user, action=self.action, **form.cleaned_data
        )

    def success_message(self):
        return f"CAPA action of {self.deviation} done."


class DeviationClose(_DeviationForm):
    form_class = release_forms.DeviationCloseForm
    signing = True
    meaning = "Approval"
    submit_label = "Sign: close deviation"

    @property
    def title(self):
        return f"Close {self.deviation}: {self.deviation.title}"

    @property
    def intro(self):
        intro = "You approve the investigation as recorded: root cause, impact and CAPA actions."
        if self.deviation.kind == Deviation.Kind.OOS:
            runs = deviations.runs_to_invalidate(self.deviation)
            listed = ", ".join(f"{run} ({run.assay.name})" for run in runs) or "no run"
            intro += (
                f" 'Result invalidated' invalidates exactly these runs: {listed}, and requires "
                "a retest; 'OOS confirmed' leaves the lot rejectable only. While the failing "
                "result is valid, 'no product impact' is refused."
            )
        return intro

    def perform(self, form):
        return deviations.deviation_close(
            signer=form.signer(self.request, Signature.Meaning.APPROVAL),
            deviation=self.deviation,
            outcome=form.cleaned_data["outcome"],
            comment=form.cleaned_data["comment"],
        )

    def success_message(self):
        signature = self.result.closure_signature
        return f"{self.result} closed, signed by {signature.printed_name}."
