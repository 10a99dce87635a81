"""The NTA section's one write from the run page: recording a dilution the file left out."""

from django import forms
from django.shortcuts import get_object_or_404

from assays.models import AssayRun
from assays.nta_services import can_record_nta_dilution, nta_dilution_record
from lims.forms import BootstrapMixin
from lims.pages import ServiceFormView


class NtaDilutionForm(BootstrapMixin, forms.Form):
    dilution_factor = forms.FloatField(
        min_value=1.0,
        help_text="How many times the sample was diluted before it was measured (1 = undiluted).",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Where the factor comes from (e.g. the bench record); kept in the audit trail.",
    )


class NtaDilutionRecordView(ServiceFormView):
    """An analyst records the dilution factor an NTA file says is "Not recorded"."""

    predicate = staticmethod(can_record_nta_dilution)
    form_class = NtaDilutionForm
    template_name = "assays/run_status.html"

    def dispatch(self, request, *args, **kwargs):
        self.run = get_object_or_404(AssayRun.objects.select_related("assay"), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Record the dilution factor of {self.run}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["run"] = self.run
        return context

    def perform(self, form):
        return nta_dilution_record(actor=self.request.user, run=self.run, **form.cleaned_data)

    def success_message(self):
        return f"{self.result} recorded; the run's metrics are computed again."

    def get_success_url(self):
        return self.run.get_absolute_url()
