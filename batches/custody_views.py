"""Pages of retained samples (QA) and received samples (technicians) (batches.custody).
Everyone with a role reads them; the forms show each refusal next to its field."""

from typing import Any, cast

from django import forms
from django.db.models import Sum
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.views.generic import DetailView, ListView

from batches import custody
from batches.models import ExosomeLot, RetainedSet, SampleReceipt
from lims.audit_trail import events_of
from lims.code_fields import CodeChoiceField
from lims.forms import DATE, DATETIME, BootstrapMixin
from lims.models import User
from lims.pages import ServiceFormView, ViewRecordsMixin
from lims.roles import can_manage_retains, can_receive_samples

app_name = "custody"


class RetainForm(BootstrapMixin, forms.Form):
    # Typed, not a <select> of every released lot (lims.code_fields).
    lot = CodeChoiceField(
        ExosomeLot.objects.all(),
        refuse=custody.retain_refusal,
        help_text="Lot code.",
    )
    vials = forms.IntegerField(
        min_value=1,
        help_text="Picked from the lot's free vials: not reserved for a stability study, not "
        "tested, still in stock.",
    )
    location = forms.CharField(max_length=200, help_text="Freezer, shelf and box.")
    lot_expiry = forms.DateField(widget=DATE, help_text="Retained until one year after it.")
    set_aside_on = forms.DateField(widget=DATE)


class WithdrawForm(BootstrapMixin, forms.Form):
    vials = forms.IntegerField(min_value=1)
    # Not required here: the service refuses an empty reason, next to this field.
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why (an investigation, a complaint, a regulator's request).",
    )


class ReceiptForm(BootstrapMixin, forms.Form):
    sender_kind = forms.ChoiceField(label="Sent by", choices=SampleReceipt.Sender.choices)
    sender_name = forms.CharField(max_length=200, label="Sender")
    description = forms.CharField(max_length=200, help_text="What was sent, as labelled.")
    lot = CodeChoiceField(
        ExosomeLot.objects.all(),
        required=False,
        help_text="The code of the lot it is a sample of: it is then tested as a sample of "
        "that lot.",
    )
    containers = forms.IntegerField(min_value=1)
    courier = forms.CharField(max_length=200, help_text="Courier and waybill.")
    shipped_at = forms.DateTimeField(widget=DATETIME)
    received_at = forms.DateTimeField(widget=DATETIME)
    late_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only when logged more than a couple of days after arrival.",
    )
    condition = forms.ChoiceField(
        label="Condition on arrival", choices=SampleReceipt.Condition.choices
    )
    condition_notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    shipping_condition = forms.ChoiceField(choices=SampleReceipt.Shipping.choices)
    temperature_min_c = forms.DecimalField(label="Lowest temperature (°C)", decimal_places=1)
    temperature_max_c = forms.DecimalField(label="Highest temperature (°C)", decimal_places=1)
    logger_id = forms.CharField(max_length=60, required=False, label="Temperature logger")


class TransferForm(BootstrapMixin, forms.Form):
    to_party = forms.CharField(max_length=200, label="Handed to")
    at = forms.DateTimeField(widget=DATETIME)
    note = forms.CharField(required=False)


class RetainList(ViewRecordsMixin, ListView):
    template_name = "custody/retain_list.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        return (
            RetainedSet.objects.filter(voided_at__isnull=True)
            .select_related("lot")
            .annotate(withdrawn=Sum("withdrawals__vials"))
            .order_by("retain_until", "pk")
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["can_manage_retains"] = can_manage_retains(self.request.user)
        return context


class RetainDetail(ViewRecordsMixin, DetailView):
    model = RetainedSet
    template_name = "custody/retain_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            remaining=custody.retained_remaining(self.object),
            withdrawals=self.object.withdrawals.select_related("created_by"),
            retained_vials=self.object.retained_vials.select_related(
                "aliquot", "aliquot__location", "withdrawal"
            ).order_by("aliquot__number"),
            audit_events=events_of(self.object),
            can_manage_retains=can_manage_retains(self.request.user),
        )
        return context


class RetainCreate(ServiceFormView):
    predicate = staticmethod(can_manage_retains)
    form_class = RetainForm
    title = "Set aside retained samples"

    def perform(self, form: Any) -> Any:
        return custody.retain_set_aside(actor=cast(User, self.request.user), **form.cleaned_data)

    def get_initial(self) -> dict[str, Any]:
        return {"set_aside_on": timezone.localdate(), "lot": self.request.GET.get("lot")}

    def success_message(self) -> str:
        return f"{self.result} set aside until {self.result.retain_until:%Y-%m-%d}."


class RetainWithdraw(ServiceFormView):
    predicate = staticmethod(can_manage_retains)
    form_class = WithdrawForm

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.retained = get_object_or_404(RetainedSet, pk=kwargs["pk"])
        self.title = f"Withdraw vials from the retains of {self.retained.lot}"
        return super().dispatch(request, *args, **kwargs)

    def perform(self, form: Any) -> Any:
        return custody.retain_withdraw(
            actor=cast(User, self.request.user), retained=self.retained, **form.cleaned_data
        )

    def get_success_url(self) -> str:
        return self.retained.get_absolute_url()


class ReceiptList(ViewRecordsMixin, ListView):
    template_name = "custody/receipt_list.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        return SampleReceipt.objects.select_related("lot").order_by("-received_at", "-pk")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["can_receive_samples"] = can_receive_samples(self.request.user)
        return context


class ReceiptDetail(ViewRecordsMixin, DetailView):
    model = SampleReceipt
    template_name = "custody/receipt_detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            custody_chain=self.object.custody.all(),
            refusal=custody.receipt_refusal(self.object),
            audit_events=events_of(self.object),
            can_receive_samples=can_receive_samples(self.request.user),
        )
        return context


class ReceiptCreate(ServiceFormView):
    predicate = staticmethod(can_receive_samples)
    form_class = ReceiptForm
    title = "Log a received sample"

    def perform(self, form: Any) -> Any:
        return custody.sample_receive(actor=cast(User, self.request.user), **form.cleaned_data)

    def get_initial(self) -> dict[str, Any]:
        return {"received_at": timezone.localtime().replace(second=0, microsecond=0)}


class CustodyTransferCreate(ServiceFormView):
    predicate = staticmethod(can_receive_samples)
    form_class = TransferForm

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.receipt = get_object_or_404(SampleReceipt, pk=kwargs["pk"])
        self.title = f"Hand over {self.receipt}"
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        return {"at": timezone.localtime().replace(second=0, microsecond=0)}

    def perform(self, form: Any) -> Any:
        return custody.custody_transfer(
            actor=cast(User, self.request.user), receipt=self.receipt, **form.cleaned_data
        )

    def success_message(self) -> str:
        return f"Handed over to {self.result.to_party}."

    def get_success_url(self) -> str:
        return reverse("custody:receipt_detail", args=[self.receipt.pk])


urlpatterns = [
    path("retains/", RetainList.as_view(), name="retain_list"),
    path("retains/new/", RetainCreate.as_view(), name="retain_create"),
    path("retains/<int:pk>/", RetainDetail.as_view(), name="retain_detail"),
    path("retains/<int:pk>/withdraw/", RetainWithdraw.as_view(), name="retain_withdraw"),
    path("receipts/", ReceiptList.as_view(), name="receipt_list"),
    path("receipts/new/", ReceiptCreate.as_view(), name="receipt_create"),
    path("receipts/<int:pk>/", ReceiptDetail.as_view(), name="receipt_detail"),
    path("receipts/<int:pk>/transfer/", CustodyTransferCreate.as_view(), name="receipt_transfer"),
]
