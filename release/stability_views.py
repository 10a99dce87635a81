"""Pages of stability studies and the annual product quality review (release.stability,
release.apqr): reads through the selectors, writes through one service each."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.generic import TemplateView

from lims import file_store
from lims.models import Signature
from lims.pages import ViewRecordsMixin, original_unavailable
from lims.roles import can_manage_specifications, can_view_records
from lims.signatures import is_valid
from release import apqr, stability
from release import stability_forms as forms
from release.models import (
    AnnualProductReview,
    Specification,
    StabilityProtocol,
    StabilityPull,
    StabilityStudy,
)
from release.views import ReleaseFormView


class StabilityHome(ViewRecordsMixin, TemplateView):
    """Protocols, studies and the calendar of pulls due (overdue ones flagged)."""

    template_name = "release/stability_home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            protocols=StabilityProtocol.objects.select_related("specification").order_by(
                "code", "-version"
            ),
            studies=StabilityStudy.objects.select_related("protocol", "lot"),
            calendar=stability.pull_calendar(),
            today=timezone.localdate(),
            can_manage=can_manage_specifications(self.request.user),
            can_run=stability.can_run_stability(self.request.user),
        )
        return context


class ProtocolDetail(ViewRecordsMixin, TemplateView):
    template_name = "release/stability_protocol.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        protocol = get_object_or_404(
            StabilityProtocol.objects.select_related("specification", "approval_signature"),
            pk=kwargs["pk"],
        )
        signature = protocol.approval_signature
        context.update(
            protocol=protocol,
            criteria=protocol.specification.criteria.order_by("position", "pk"),
            signature_valid=signature is not None
            and is_valid(signature, protocol.signed_content()),
            can_manage=can_manage_specifications(self.request.user),
        )
        return context


class StudyDetail(ViewRecordsMixin, TemplateView):
    template_name = "release/stability_study.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        study = get_object_or_404(StabilityStudy, pk=kwargs["pk"])
        view = stability.study_view(study)
        context.update(
            view=view,
            study=view.study,
            charts=[(f"trend-{t.criterion.pk}", t, t.chart()) for t in view.trends],
            today=timezone.localdate(),
            expiry=stability.current_expiry(view.study.lot),
            can_manage=can_manage_specifications(self.request.user),
            can_run=stability.can_run_stability(self.request.user),
        )
        return context


class ProtocolCreate(ReleaseFormView):
    predicate = staticmethod(can_manage_specifications)
    form_class = forms.ProtocolForm
    title = "Draft a stability protocol"
    intro = "QA approves it with an e-signature before a study can start on it (ICH Q5C)."
    submit_label = "Create draft"

    def perform(self, form):
        return stability.protocol_create(actor=self.request.user, **form.cleaned_data)

    def cancel_url(self):
        return reverse("release:stability")


class ProtocolApprove(ReleaseFormView):
    predicate = staticmethod(can_manage_specifications)
    form_class = forms.SignatureForm
    signing = True
    meaning = "Approval"
    submit_label = "Sign: approve"

    def dispatch(self, request, *args, **kwargs):
        self.protocol = get_object_or_404(StabilityProtocol, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Approve {self.protocol}"

    def perform(self, form):
        return stability.protocol_approve(
            signer=form.signer(self.request, Signature.Meaning.APPROVAL),
            protocol=self.protocol,
            comment=form.cleaned_data["comment"],
        )

    def success_message(self):
        return f"{self.result} approved."

    def cancel_url(self):
        return self.protocol.get_absolute_url()


class StudyStart(ReleaseFormView):
    predicate = staticmethod(stability.can_run_stability)
    form_class = forms.StudyStartForm
    title = "Start a stability study"
    intro = "Starting reserves the lot's vials per condition and time point: they leave normal use."
    submit_label = "Start and reserve vials"

    def get_initial(self):
        return {"protocol": self.request.GET.get("protocol"), "started_on": timezone.localdate()}

    def perform(self, form):
        return stability.study_start(actor=self.request.user, **form.cleaned_data)

    def success_message(self):
        return f"{self.result} started; {self.result.pulls.count()} pulls scheduled."

    def cancel_url(self):
        return reverse("release:stability")


class PullRecord(ReleaseFormView):
    predicate = staticmethod(stability.can_run_stability)
    form_class = forms.PullForm
    submit_label = "Record the pull"

    def dispatch(self, request, *args, **kwargs):
        self.pull = get_object_or_404(
            StabilityPull.objects.select_related("study"), pk=kwargs["pk"]
        )
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Pull {self.pull}"

    @property
    def intro(self):
        vials = ", ".join(v.aliquot.barcode for v in self.pull.vials.select_related("aliquot"))
        return f"Take vial(s) {vials} out of storage now; test them under their barcode."

    def perform(self, form):
        return stability.pull_record(actor=self.request.user, pull=self.pull, **form.cleaned_data)

    def success_message(self):
        return f"{self.result} recorded."

    def get_success_url(self):
        return self.pull.study.get_absolute_url()

    def cancel_url(self):
        return self.pull.study.get_absolute_url()


class ExpiryAssign(ReleaseFormView):
    predicate = staticmethod(can_manage_specifications)
    form_class = forms.SignatureForm
    signing = True
    meaning = "Approval"
    submit_label = "Sign: assign expiry"

    def dispatch(self, request, *args, **kwargs):
        self.study = get_object_or_404(StabilityStudy, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Assign the expiry of lot {self.study.lot} from {self.study}"

    def perform(self, form):
        return stability.expiry_assign(
            signer=form.signer(self.request, Signature.Meaning.APPROVAL),
            study=self.study,
            comment=form.cleaned_data["comment"],
        )

    def success_message(self):
        return f"Lot {self.result.lot} expires on {self.result.expires_on}."

    def get_success_url(self):
        return self.study.get_absolute_url()

    def cancel_url(self):
        return self.study.get_absolute_url()


def _product_year(request) -> tuple[str, int]:
    product = request.GET.get("product") or Specification.Product.DRUG_SUBSTANCE
    try:
        year = int(request.GET.get("year") or timezone.localdate().year)
    except ValueError as exc:
        raise Http404("The year is a number.") from exc
    return product, year


class ApqrPage(ViewRecordsMixin, TemplateView):
    template_name = "release/apqr.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        product, year = _product_year(self.request)
        try:
            data = apqr.review(product=product, year=year)
        except ValidationError as exc:
            raise Http404(exc.messages[0]) from exc
        revisions = apqr.revisions_of(product=product, year=year)
        context.update(
            data,
            signed=revisions[0] if revisions else None,
            revisions=revisions,
            can_sign=can_manage_specifications(self.request.user),
        )
        return context


class ApqrSign(ReleaseFormView):
    predicate = staticmethod(can_manage_specifications)
    form_class = forms.ApqrSignForm
    signing = True
    meaning = "Approval"
    submit_label = "Sign the review"

    @property
    def title(self):
        product, year = _product_year(self.request)
        return f"Sign the annual product quality review {year}"

    def perform(self, form):
        product, year = _product_year(self.request)
        return apqr.apqr_sign(
            signer=form.signer(self.request, Signature.Meaning.APPROVAL),
            product=product,
            year=year,
            conclusion=form.cleaned_data["conclusion"],
            comment=form.cleaned_data["comment"],
        )

    def success_message(self):
        return f"{self.result} signed; its PDF is stored."

    def cancel_url(self):
        return reverse("release:apqr")


class ApqrRevise(ReleaseFormView):
    """QA issues a new revision of a signed review: a reason, a conclusion, a new signature."""

    predicate = staticmethod(can_manage_specifications)
    form_class = forms.ApqrReviseForm
    signing = True
    meaning = "Approval"
    submit_label = "Sign the new revision"

    @cached_property
    def previous(self) -> AnnualProductReview:
        # Read after the role check (a 404 only to those who may revise).
        return get_object_or_404(AnnualProductReview, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Revise {self.previous} (revision {self.previous.revision})"

    @property
    def intro(self):
        return (
            "The signed revision is kept as it is and shown as superseded; the new one is read "
            "from the records as they stand now, signed again and stored as its own PDF."
        )

    def get_initial(self):
        return {"conclusion": self.previous.conclusion}

    def perform(self, form):
        return apqr.apqr_revise(
            signer=form.signer(self.request, Signature.Meaning.APPROVAL),
            previous=self.previous,
            reason=form.cleaned_data["reason"],
            conclusion=form.cleaned_data["conclusion"],
            comment=form.cleaned_data["comment"],
        )

    def success_message(self):
        return f"{self.result} signed; revision {self.previous.revision} is superseded."

    def cancel_url(self):
        return self.previous.get_absolute_url()


@login_required
def apqr_pdf(request, pk):
    if not can_view_records(request.user):
        raise PermissionDenied("Your role does not allow this.")
    record = get_object_or_404(AnnualProductReview, pk=pk)
    try:
        data = apqr.apqr_bytes(record)
    except file_store.OriginalUnavailable as exc:
        return original_unavailable(
            request, exc, what=str(record), sha256=record.sha256, back_url=reverse("release:apqr")
        )
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="APQR-{record.product}-{record.year}-rev{record.revision}.pdf"'
    )
    response["X-Content-SHA256"] = record.sha256
    return response
