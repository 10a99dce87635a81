"""Filters of QA's lists, shared by the pages and the API (one definition per model)."""

from datetime import timedelta

import django_filters as filters
from django.db.models import Exists, OuterRef
from django.utils import timezone

from release.models import AuditTrailReview, CapaAction, Deviation

# A CAPA action is shown as due this many days before its due date (and overdue after it).
CAPA_DUE_WITHIN_DAYS = 7


def capa_due(queryset=None):
    """CAPA actions not done (nor voided) that are overdue or due within CAPA_DUE_WITHIN_DAYS,
    the soonest first."""
    horizon = timezone.localdate() + timedelta(days=CAPA_DUE_WITHIN_DAYS)
    queryset = CapaAction.objects.all() if queryset is None else queryset
    return queryset.filter(
        done_on__isnull=True, voided_at__isnull=True, due_on__lte=horizon
    ).order_by("due_on", "pk")


class DeviationFilter(filters.FilterSet):
    # The whole lot code or part of it: people type a prefix, integrations send the full code.
    lot = filters.CharFilter(field_name="lot__code", lookup_expr="icontains", label="Lot")
    open = filters.BooleanFilter(method="filter_open", label="Not closed")
    capa_due = filters.BooleanFilter(method="filter_capa_due", label="CAPA due or overdue")

    class Meta:
        model = Deviation
        fields = ["status", "kind", "lot", "open", "capa_due"]

    def filter_open(self, queryset, name, value):
        closed = {"status": Deviation.Status.CLOSED}
        return queryset.exclude(**closed) if value else queryset.filter(**closed)

    def filter_capa_due(self, queryset, name, value):
        due = Exists(capa_due().filter(deviation=OuterRef("pk")))
        return queryset.filter(due) if value else queryset.exclude(due)


class AuditTrailReviewFilter(filters.FilterSet):
    lot = filters.CharFilter(field_name="lot__code", lookup_expr="iexact", label="Lot code")
    reviewed_after = filters.DateFilter(
        field_name="reviewed_at", lookup_expr="gte", label="Reviewed on or after"
    )

    class Meta:
        model = AuditTrailReview
        fields = ["lot", "reviewed_after"]
