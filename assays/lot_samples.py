"""Which samples are a lot's: those that name the lot, and those that name one of its vials."""

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, F, Func, Q, QuerySet

from batches.models import Aliquot


class _AnyOf(Func):
    """``column = ANY(array)`` as a filter condition."""

    arg_joiner = " = ANY("
    template = "%(expressions)s)"
    output_field = BooleanField()


def any_of(column: str, ids: QuerySet) -> Q:
    """``column = ANY(ARRAY(ids))``: the ids read once (an InitPlan), the column matched by its
    index, also as one side of an OR (where ``column__in=ids`` becomes a filter per row)."""
    return Q(_AnyOf(F(column), ArraySubquery(ids.order_by().values("pk"))))


def of_lot(lot, through: str = "") -> Q:
    """The condition on a sample (``through``: the path to it, e.g. ``"sample__"`` from a result,
    ``"samples__"`` from a run) that it is the lot's or one of its vials'.

    Not ``Q(lot=lot) | Q(aliquot__lot=lot)``: an OR across the vials' join lets PostgreSQL use
    no index for either side, so it hashes every vial against every sample of the history
    (25 ms per lot page at a busy site's ten years, and growing). Here the lot's vial ids are
    an array computed once, and both sides are index scans joined by a BitmapOr (0.3 ms, the
    same at any size)."""
    return Q(**{f"{through}lot": lot}) | any_of(
        f"{through}aliquot_id", Aliquot.objects.filter(lot=lot)
    )
