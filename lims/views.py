"""Sign-in pages and the audit trail."""

import csv
import datetime
import json

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.views.generic import ListView

from lims.audit_trail import AuditEventFilter, audit_events, describe
from lims.models import AuditChainCheck
from lims.pages import PredicateRequiredMixin
from lims.roles import can_view_audit_trail


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class AuditTrailView(PredicateRequiredMixin, ListView):
    """The global audit trail, filtered by user, model, date range and record."""

    predicate = staticmethod(can_view_audit_trail)
    template_name = "audit/trail.html"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = AuditEventFilter(self.request.GET, queryset=audit_events())
        if not self.filterset.is_valid():
            # A filter that cannot be read (a malformed date) shows its error and no rows: the
            # whole trail under a filter the reader believes applied would mislead.
            return audit_events().none()
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # Codes, names and references of this page's rows, one query per model referenced.
        context["object_list"] = describe(context["object_list"])
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(filter=self.filterset, query=params.urlencode())
        context["chain_check"] = AuditChainCheck.objects.order_by("-checked_at", "-pk").first()
        return context


class _Echo:
    def write(self, value):
        return value


@login_required
def audit_trail_csv(request):
    """The filtered audit trail as CSV, streamed so a long trail never sits in memory."""
    if not can_view_audit_trail(request.user):
        raise PermissionDenied("Your role does not allow this.")
    filterset = AuditEventFilter(request.GET, queryset=audit_events())
    if not filterset.is_valid():
        problems = "; ".join(
            f"{filterset.form.fields[name].label if name in filterset.form.fields else name}: "
            + " ".join(messages)
            for name, messages in filterset.form.errors.items()
        )
        return HttpResponseBadRequest(
            f"The filter cannot be read: {problems}", content_type="text/plain"
        )
    events = filterset.qs
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(
            [
                "time_utc",
                "model",
                "record_id",
                "action",
                "user",
                "instrument",
                "reason",
                "changes",
                "task",
            ]
        )
        for e in events.iterator(chunk_size=500):
            yield writer.writerow(
                [
                    e.pgh_created_at.astimezone(datetime.UTC).isoformat(),
                    e.pgh_obj_model,
                    e.pgh_obj_id,
                    e.action,
                    e.username or "",
                    e.instrument or "",
                    e.reason or "",
                    json.dumps(e.pgh_diff if e.pgh_label == "update" else e.pgh_data, default=str),
                    e.task or "",  # last: columns added later go at the end (stable for readers)
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    return response
