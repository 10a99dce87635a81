"""The home page: what needs doing next, as a work queue per role the person holds
(release.queues).

It reads every layer, so it lives in the top one; lims.urls mounts it at the site's root.
"""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from release.queues import queues_for


@login_required
def home(request):
    return render(
        request,
        "home.html",
        {"role_queues": queues_for(request.user), "now": timezone.now()},
    )


urlpatterns = [path("", home, name="home")]
