"""Correlated subqueries shared by list pages and API lists."""

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce


def related_count(rows: QuerySet, link: str) -> Coalesce:
    """How many of ``rows`` point at the outer row through ``link`` (0 for none).

    A correlated subquery on ``link``'s index, not an aggregate over a join: PostgreSQL
    evaluates it after the outer query's LIMIT, for the rows of the page only, where a GROUP BY
    would count every row of the table first (issue 14)."""
    counted = (
        rows.filter(**{link: OuterRef("pk")})
        .order_by()
        .values(link)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)
