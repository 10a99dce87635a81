"""Pages of a list that cost the same at any depth (issue 14: deep pages as fast as the first).

An OFFSET makes PostgreSQL produce and throw away every row before the page, with the list's
joins: the last page of 100,000 vials cost 7× the first and grew with the table. So:

- "Next" and "Previous" carry a keyset cursor, the (sort value, primary key) of the row at the
  page's edge, and the next page is the 25 rows after it in the list's ordering, found from
  the sort column's index (the technique of Winand, "We need tool support for keyset
  pagination", use-the-index-luke.com/no-offset);
- a page asked for by number past the middle (`?page=last`) is read backwards: the last page is
  OFFSET 0 of the reversed ordering. PostgreSQL's DESC NULLS FIRST is the exact mirror of ASC
  NULLS LAST (its ORDER BY documentation), so with a unique key at the end of the ordering the
  reversed rows are the same rows.

Both need a total order: the list's ordering ends with the primary key (RecordListView's does).
The exact count stays: it is what "Page 3 of 4,000" and the Last link are made of.
"""

import datetime
from decimal import Decimal

from django.core.exceptions import FieldError, ValidationError
from django.core.paginator import Paginator
from django.db import DataError
from django.db.models import Count, F, Q

CURSOR_PARAMS = ("after", "before")


def _encoded(value) -> str:
    """A sort value as text that the field's lookups read back to the same value."""
    if value is None:
        return "n"
    if isinstance(value, datetime.datetime | datetime.date):
        return "v" + value.isoformat()  # microseconds kept (JSON encoders drop them)
    if isinstance(value, Decimal | int | float | str):
        return "v" + str(value)
    raise TypeError(type(value))


def cursor_of(row) -> str:
    return f"{row.pk}:{_encoded(row.keyset_value)}"


def _parsed(cursor: str) -> tuple[int, str | None]:
    pk, _, value = cursor.partition(":")
    if not value or value[0] not in "nv" or not 0 < int(pk) < 2**63:
        raise ValueError(cursor)
    return int(pk), (value[1:] if value[0] == "v" else None)


def _nullable(queryset, field: str) -> bool:
    """Whether the sort value can be NULL: a nullable column, or one reached through a
    nullable foreign key (a LEFT JOIN). A computed column is taken as nullable unless a count."""
    annotation = queryset.query.annotations.get(field)
    if annotation is not None:
        return not isinstance(annotation, Count)
    model = queryset.model
    for name in field.split("__"):
        found = model._meta.get_field(name)
        if found.null:
            return True
        if found.is_relation:
            model = found.related_model
    return False


def _following(field, descending, value, pk, *, pk_descending, nullable) -> Q:
    """The rows after (value, pk) in the ordering (field ASC NULLS LAST or DESC NULLS FIRST,
    then pk). The bound on the field alone (>=, <=) is a conjunct so that PostgreSQL starts its
    index scan at the cursor rather than filtering from the first row; the NULLs' branch is
    there only where the value can be NULL (PostgreSQL 15 does not drop it for a NOT NULL
    column, and an OR at the top would cost the index its start)."""
    pk_after = Q(pk__lt=pk) if pk_descending else Q(pk__gt=pk)
    is_null = Q(**{f"{field}__isnull": True})
    if value is None:
        # NULLs come last ascending (after them only NULLs), first descending (then the rest).
        following = is_null & pk_after
        return following | ~is_null if descending else following
    bound, beyond = ("lte", "lt") if descending else ("gte", "gt")
    following = Q(**{f"{field}__{bound}": value}) & (Q(**{f"{field}__{beyond}": value}) | pk_after)
    if nullable and not descending:
        following |= is_null
    return following


class ListPaginator(Paginator):
    """A Paginator whose pages cost the same at any depth: keyset from a cursor, else the
    nearer end (module docstring). `cursor` is ("after" or "before", the cursor's text), set
    by the view from the query string; a cursor that does not parse is ignored (the page is
    then found by its number)."""

    cursor: tuple[str, str] | None = None

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if not getattr(getattr(self.object_list, "query", None), "order_by", ()):
            return self._get_page(self.object_list[bottom:top], number, self)
        key = self._keyset()
        listed = self.object_list
        rows = None
        if key is not None:
            listed = listed.annotate(keyset_value=F(key.lstrip("-")))
            rows = self._by_cursor(listed, key, top - bottom)
        if rows is None and bottom <= self.count - top:
            rows = list(listed[bottom:top])
        elif rows is None:
            rows = list(listed.reverse()[self.count - top : self.count - bottom])[::-1]
        page = self._get_page(rows, number, self)
        if key is not None and rows:
            try:
                page.before_cursor, page.after_cursor = cursor_of(rows[0]), cursor_of(rows[-1])
            except TypeError:
                pass  # a sort value without a text form here: the links go by page number
        return page

    def _keyset(self) -> str | None:
        """The sort key of an ordering (key, "pk"), the one shape read by keyset; None for
        another (ordered by more columns: pages by number only, from the nearer end)."""
        ordering: tuple = tuple(getattr(getattr(self.object_list, "query", None), "order_by", ()))
        if len(ordering) == 2 and ordering[1] == "pk" and isinstance(ordering[0], str):
            return ordering[0]
        return None

    def _by_cursor(self, ordered, key: str, size: int) -> list | None:
        if not self.cursor:
            return None
        direction, text = self.cursor
        field, descending = key.lstrip("-"), key.startswith("-")
        try:
            pk, value = _parsed(text)
            nullable = _nullable(self.object_list, field)
            if direction == "after":
                wanted = _following(
                    field, descending, value, pk, pk_descending=False, nullable=nullable
                )
                return list(ordered.filter(wanted)[:size])
            # Before the cursor: after it in the reversed ordering, then turned round.
            wanted = _following(
                field, not descending, value, pk, pk_descending=True, nullable=nullable
            )
            return list(ordered.reverse().filter(wanted)[:size])[::-1]
        except (ValueError, TypeError, ValidationError, FieldError, DataError):
            return None
