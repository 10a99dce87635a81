"""Pages of training and qualification (lims.training): the matrix of people × assays with
what lapsed and what expires soon, for everyone with a role; the recording of a training
(signed), SOP versions and training requirements, for QA."""

from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.views.generic import TemplateView

from lims import training
from lims.forms import DATE, BootstrapMixin, SignatureForm, person_label
from lims.models import Signature, Sop, Step, TrainingRecord, TrainingRequirement, User
from lims.pages import ServiceFormView, ViewRecordsMixin, add_service_errors
from lims.roles import can_manage_training

app_name = "training"


class PersonChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return person_label(obj)


def _people():
    return (
        User.objects.filter(is_active=True, groups__isnull=False)
        .exclude(username="system")
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


class TrainingRecordForm(SignatureForm):
    trainee = PersonChoice(queryset=User.objects.none())
    sop = forms.ModelChoiceField(label="SOP version", queryset=Sop.objects.none())
    trained_on = forms.DateField(widget=DATE)
    trainer = PersonChoice(queryset=User.objects.none())
    expires_on = forms.DateField(widget=DATE, help_text="Requalification due on this day.")

    field_order = ["trainee", "sop", "trained_on", "trainer", "expires_on", "username", "password"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("trainee", "trainer"):
            self.fields[name].queryset = _people()  # type: ignore[attr-defined]
        self.fields["sop"].queryset = Sop.objects.filter(  # type: ignore[attr-defined]
            voided_at__isnull=True
        ).order_by("code", "-version")


class SopForm(BootstrapMixin, forms.Form):
    code = forms.CharField(max_length=40, help_text="A new code, or an SOP's next version.")
    title = forms.CharField(max_length=200)
    effective_on = forms.DateField(widget=DATE)
    grace_days = forms.IntegerField(
        min_value=0,
        max_value=365,
        initial=30,
        help_text="Training on the earlier version lapses this many days after this one "
        "takes effect.",
    )


class RequirementForm(BootstrapMixin, forms.Form):
    subject = forms.CharField(max_length=40, help_text='An assay code (e.g. NTA) or "release".')
    step = forms.ChoiceField(choices=Step.choices)
    sop_code = forms.CharField(max_length=40, label="SOP code")


class TrainingMatrix(ViewRecordsMixin, TemplateView):
    template_name = "training/matrix.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        subjects, rows = training.training_matrix()
        today = timezone.localdate()
        soon = [
            (row.user, subject, cell)
            for row in rows
            for subject, cell in zip(subjects, row.cells, strict=True)
            if cell.state in ("expiring", "lapsed")
        ]
        soon.sort(key=lambda item: item[2].ends_on or today)
        context.update(
            subjects=subjects,
            rows=rows,
            attention=soon,
            soon_days=training.EXPIRING_SOON_DAYS,
            records=TrainingRecord.objects.filter(voided_at__isnull=True)
            .select_related("trainee", "trainer", "sop")
            .order_by("-trained_on", "-pk")[:25],
            sops=Sop.objects.filter(voided_at__isnull=True).order_by("code", "version"),
            requirements=TrainingRequirement.objects.filter(voided_at__isnull=True),
            can_manage_training=can_manage_training(self.request.user),
        )
        return context


class QaFormView(ServiceFormView):
    predicate = staticmethod(can_manage_training)
    signing = False
    meaning = ""

    def form_valid(self, form: Any) -> Any:
        try:
            if self.signing:
                # Re-authentication before the service's transaction (lims.signatures).
                self.result = self.perform(form)
            else:
                with transaction.atomic():
                    self.result = self.perform(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message())
        return redirect(reverse("training:matrix"))

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(signing=self.signing, meaning=self.meaning)
        return context


class TrainingRecordCreate(QaFormView):
    form_class = TrainingRecordForm
    title = "Record a training"
    signing = True
    meaning = "Approval"

    def get_initial(self) -> dict[str, Any]:
        today = timezone.localdate()
        return {"trained_on": today, "expires_on": today + timedelta(days=365)}

    def perform(self, form: Any) -> TrainingRecord:
        data = form.cleaned_data
        return training.training_record(
            signer=form.signer(self.request, Signature.Meaning.APPROVAL),
            trainee=data["trainee"],
            sop=data["sop"],
            trained_on=data["trained_on"],
            trainer=data["trainer"],
            expires_on=data["expires_on"],
            comment=data["comment"],
        )

    def success_message(self) -> str:
        return f"{self.result} recorded and signed."


class SopCreate(QaFormView):
    form_class = SopForm
    title = "Issue an SOP version"

    def perform(self, form: Any) -> Sop:
        return training.sop_issue(actor=cast(User, self.request.user), **form.cleaned_data)

    def success_message(self) -> str:
        return f"{self.result} issued."


class RequirementCreate(QaFormView):
    form_class = RequirementForm
    title = "Require a training"

    def perform(self, form: Any) -> TrainingRequirement:
        return training.training_requirement_add(
            actor=cast(User, self.request.user), **form.cleaned_data
        )

    def success_message(self) -> str:
        return f"{self.result}: required."


urlpatterns = [
    path("", TrainingMatrix.as_view(), name="matrix"),
    path("record/", TrainingRecordCreate.as_view(), name="record"),
    path("sops/new/", SopCreate.as_view(), name="sop_create"),
    path("requirements/new/", RequirementCreate.as_view(), name="requirement_create"),
]
