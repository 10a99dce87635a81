"""Flow cytometry pages: upload a sample tube with its control, and the run page's flow section
(each marker's histogram with its threshold, the gate on its two channels)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.generic import FormView

from assays import flow_services
from assays.forms import CurrentAssayField, InstrumentChoiceField
from assays.models import Instrument
from assays.views import EnterResultsMixin
from lims.forms import DATETIME, BootstrapMixin
from lims.pages import PredicateRequiredMixin, add_service_errors

if TYPE_CHECKING:
    from lims.models import User


class FlowUploadForm(BootstrapMixin, forms.Form):
    assay = CurrentAssayField(help_text="An assay whose definition carries a flow gating.")
    sample = forms.CharField(
        max_length=80,
        label="Sample identifier",
        help_text="Culture batch code, lot code or vial barcode.",
    )
    sample_file = forms.FileField(label="Sample FCS file", help_text="The stained tube.")
    control_file = forms.FileField(
        label="Control FCS file",
        help_text="The isotype or unstained control: it sets each marker's threshold.",
    )
    started_at = forms.DateTimeField(
        required=False,
        label="Acquired at",
        widget=DATETIME,
        help_text="Leave empty for now.",
    )
    instrument = InstrumentChoiceField(Instrument.objects.order_by("code"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assay, instrument = self.fields["assay"], self.fields["instrument"]
        assert isinstance(assay, CurrentAssayField)
        assert isinstance(instrument, InstrumentChoiceField)
        assay.queryset = assay.queryset.exclude(flow_gating={})  # type: ignore[union-attr]
        instrument.offer_in_service()

    def _clean_upload(self, name: str) -> Any:
        upload = self.cleaned_data[name]
        if upload.size > settings.FILE_UPLOAD_MAX_BYTES:
            raise ValidationError("The file is larger than the upload limit.")
        return upload

    def clean_sample_file(self) -> Any:
        return self._clean_upload("sample_file")

    def clean_control_file(self) -> Any:
        return self._clean_upload("control_file")


class FlowUpload(EnterResultsMixin, PredicateRequiredMixin, FormView):  # type: ignore[misc]
    """Both tubes in one form: the run is recorded from them at once (they are read in well
    under a second), or refused with the reason on the file it concerns."""

    form_class = FlowUploadForm
    template_name = "assays/flow_upload.html"

    def get_initial(self) -> dict[str, Any]:
        return {
            "sample": self.request.GET.get("sample", ""),
            "assay": self.request.GET.get("assay", "ISCT-FLOW"),
        }

    def form_valid(self, form: FlowUploadForm) -> Any:
        data = form.cleaned_data
        try:
            run = flow_services.flow_run_record(
                actor=cast("User", self.request.user),
                assay_code=data["assay"].code,
                sample_identifier=data["sample"],
                sample_file=flow_services.FcsUpload(
                    data["sample_file"].name, data["sample_file"].read()
                ),
                control_file=flow_services.FcsUpload(
                    data["control_file"].name, data["control_file"].read()
                ),
                instrument=data["instrument"],
                started_at=data["started_at"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, "Flow run recorded from the sample and control files.")
        return redirect(run.get_absolute_url())
