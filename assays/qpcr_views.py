"""qPCR pages: the run page's section (RQ with interval, efficiencies, standard curves drawn) and
QC changing an assay's qPCR configuration, a new assay version with the reason."""

import json
from typing import Any

from django import forms
from django.shortcuts import get_object_or_404

from assays import charts, qpcr_services
from assays.flow_charts import figure_json
from assays.models import AssayDefinition, AssayRun
from lims.forms import BootstrapMixin
from lims.pages import ServiceFormView
from lims.roles import can_configure_assays


class QpcrConfigForm(BootstrapMixin, forms.Form):
    qpcr = forms.CharField(
        label="qPCR configuration (JSON)",
        widget=forms.Textarea(attrs={"rows": 18, "class": "font-monospace"}),
        help_text='"references": one or more reference genes, normalised by their geometric '
        'mean (Vandesompele 2002), or "spike_in": one exogenous RNA (e.g. cel-miR-39) with no '
        'references; "targets": the genes reported (empty: every other gene measured); '
        '"efficiency": every gene\'s efficiency, {"source": "validated", "percent": 98.5} or '
        '{"source": "standard_curve", "standards": [{"wells": ["B1", "B2"], '
        '"log10_quantity": 6}, …]} (E = 10^(-1/slope), MIQE); "efficiencies": the same per '
        "gene; \"calibrator_sample\": the calibrator's name in the run's file (empty: each "
        'sample\'s calibrator_ct results); "calibrator": what it is.',
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the method changes (kept in the audit trail of the new version).",
    )

    def clean_qpcr(self):
        try:
            value = json.loads(self.cleaned_data["qpcr"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The configuration is a JSON object.")
        return value


class QpcrConfigure(ServiceFormView):
    """A form prefilled with the current version's configuration; saving makes a new version."""

    predicate = staticmethod(can_configure_assays)
    form_class = QpcrConfigForm

    def dispatch(self, request, *args, **kwargs):
        # Only a qPCR assay has this page (the others have no qPCR configuration to change).
        self.assay = get_object_or_404(AssayDefinition.objects.exclude(qpcr={}), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Change the qPCR configuration of {self.assay} (makes a new version)"

    def get_initial(self):
        return {"qpcr": json.dumps(self.assay.qpcr, indent=2, ensure_ascii=False)}

    def perform(self, form):
        return qpcr_services.qpcr_configure(
            actor=self.request.user,
            assay=self.assay,
            config=form.cleaned_data["qpcr"],
            reason=form.cleaned_data["reason"],
        )

    def success_message(self):
        return f"{self.result} is the current version, with the new qPCR configuration."


def run_section(run: AssayRun) -> dict[str, Any]:
    """The run page's qPCR section (assays.qpcr_services.run_section) with each standard
    curve's chart; GET only reads."""
    section = qpcr_services.run_section(run)
    section["curves"] = [(gene, eff, _curve_chart(gene, eff)) for gene, eff in section["curves"]]
    return section


def _curve_chart(gene: str, eff: dict[str, Any]) -> dict[str, Any]:
    curve = eff["standard_curve"]
    points = curve["points"]
    return figure_json(
        charts.qpcr_standard_curve_figure(
            [p["log10_quantity"] for p in points],
            [p["ct"] for p in points],
            slope=curve["slope"],
            intercept=curve["intercept"],
            gene=gene,
            efficiency_percent=eff["percent"],
        )
    )
