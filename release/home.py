"""The home page: what needs attention across production, QC and release.

It reads every layer, so it lives in the top one; lims.urls mounts it at the site's root.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from assays.selectors import calibration_state, instruments_calibration_due
from batches.models import CultureBatch, ExosomeLot


@login_required
def home(request):
    batches = (
        CultureBatch.objects.filter(status=CultureBatch.Status.IN_CULTURE)
        .select_related("cell_bank__donor")
        .order_by("started_on")[:20]
    )
    lots = ExosomeLot.objects.filter(
        status__in=[
            ExosomeLot.Status.IN_TESTING,
            ExosomeLot.Status.UNDER_REVIEW,
            ExosomeLot.Status.QUARANTINED,
        ]
    ).order_by("manufactured_on")[:20]
    instruments = list(instruments_calibration_due()[:20])
    for instrument in instruments:
        instrument.calibration_state = calibration_state(instrument)
    return render(
        request,
        "home.html",
        {
            "batches_in_culture": batches,
            "lots_needing_attention": lots,
            "calibration_due": instruments,
            "now": timezone.now(),
        },
    )


urlpatterns = [path("", home, name="home")]
