"""Filters of QA's lists, shared by the pages and the API (one definition per model)."""

import django_filters as filters

from release.models import Deviation


class DeviationFilter(filters.FilterSet):
    # The whole lot code or part of it: people type a prefix, integrations send the full code.
    lot = filters.CharFilter(field_name="lot__code", lookup_expr="icontains", label="Lot")

    class Meta:
        model = Deviation
        fields = ["status", "kind", "lot"]
