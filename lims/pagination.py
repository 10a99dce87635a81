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

The count is bounded: the rows are counted up to COUNTED_ROWS, and a longer list says "Page 3
of more than 400" (an exact COUNT(*) read all 100,000 vials on every page, the one cost that
still grew with the table). Past the bound the last page is the last 25 rows of the ordering,
read backwards as above, and the pages before it are numbered from the end (-1 the last, -2
the one before, shown as "Page 2 from the end"); whether there is a page beyond is known from
one row more than the page holds.
"""

import datetime
from decimal import Decimal
from math import ceil
from typing import Any, cast

from django.core.exceptions import FieldError, ValidationError
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import DataError
from django.db.models import Count, F, Q
from django.utils.functional import cached_property

CURSOR_PARAMS = ("after", "before")

# The rows a list counts exactly (the API's offset window is the same bound, for the same
# reason: assays.api.pagination).
COUNTED_ROWS = 10_000


def bounded_count(queryset, bound: int) -> int:
    """The rows of `queryset`, counted up to one more than `bound`: the database stops there
    (`COUNT(*)` over a `LIMIT bound + 1` subquery) instead of reading every row."""
    return queryset.order_by().values("pk")[: bound + 1].count()


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


class ListPage(Page):
    """A page of a ListPaginator. Past the bound of the count (`beyond` set by the paginator:
    whether the rows on each side of the page were found to go on), the links come from the
    rows read, not from a number of pages."""

    beyond: dict[str, bool] | None = None
    before_cursor: str | None = None
    after_cursor: str | None = None

    def has_next(self) -> bool:
        return self.beyond["after"] if self.beyond is not None else super().has_next()

    def has_previous(self) -> bool:
        return self.beyond["before"] if self.beyond is not None else super().has_previous()

    @property
    def label(self) -> str:
        paginator = cast("ListPaginator", self.paginator)
        if paginator.count_exact:
            return f"Page {self.number} of {paginator.num_pages}"
        if self.number == -1:
            return "Last page"
        if self.number < 0:
            return f"Page {-self.number} from the end"
        return f"Page {self.number} of more than {COUNTED_ROWS // paginator.per_page:,}"


class ListPaginator(Paginator):
    """A Paginator whose pages cost the same at any depth: keyset from a cursor, else the
    nearer end, and a bounded count (module docstring). `cursor` is ("after" or "before", the
    cursor's text), set by the view from the query string; a cursor that does not parse is
    ignored (the page is then found by its number)."""

    cursor: tuple[str, str] | None = None

    @cached_property
    def count(self) -> int:
        """The rows, counted up to one more than COUNTED_ROWS: the database stops there."""
        listed: Any = self.object_list  # a QuerySet (RecordListView's), else a sequence
        if hasattr(listed, "query"):
            return bounded_count(listed, COUNTED_ROWS)
        return len(listed)

    @property
    def count_exact(self) -> bool:
        return self.count <= COUNTED_ROWS

    @cached_property
    def num_pages(self) -> int:
        """Past the bound, -1: the last page, numbered from the end (`?page=last` asks for it)."""
        if not self.count_exact:
            return -1
        if self.count == 0 and not self.allow_empty_first_page:
            return 0
        return ceil(max(1, self.count - self.orphans) / self.per_page)

    def validate_number(self, number):
        """A page from the front (1, 2, ...) or from the end (-1 the last, -2, ...); within
        the bound, one from the end is the same page numbered from the front."""
        try:
            number = int(number)
        except (TypeError, ValueError) as exc:
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from exc
        if number < 0 and self.count_exact:
            number += self.num_pages + 1
        if number == 0 or (number < 0 and self.count_exact):
            raise EmptyPage(self.error_messages["min_page"])
        if number < 0 or not self.count_exact:
            return number
        return super().validate_number(number)

    def _get_page(self, *args, **kwargs) -> ListPage:
        return ListPage(*args, **kwargs)

    def page(self, number):
        number = self.validate_number(number)
        ordered = bool(getattr(getattr(self.object_list, "query", None), "order_by", ()))
        if self.count_exact or not ordered:
            return self._counted_page(number, ordered)
        key = self._keyset()
        listed = self.object_list
        size = self.per_page
        if key is not None:
            listed = listed.annotate(keyset_value=F(key.lstrip("-")))
        found = self._by_cursor(listed, key, size + 1) if key is not None else None
        if found is not None:
            forward = self.cursor[0] == "after"
            skipped = True  # the cursor's row is on the other side
        else:
            forward, skipped = number > 0, abs(number) > 1
            bottom = (abs(number) - 1) * size
            found = list((listed if forward else listed.reverse())[bottom : bottom + size + 1])
            if not forward:
                found.reverse()
            if not found and number != 1:
                raise EmptyPage(self.error_messages["no_results"])
        # One row more than the page: the side read towards goes on if it came.
        more = len(found) > size
        rows = found[:size] if forward else found[-size:]
        page = self._get_page(rows, number, self)
        page.beyond = (
            {"after": more, "before": skipped}
            if forward
            else {
                "after": skipped,
                "before": more,
            }
        )
        self._set_cursors(page, key, rows)
        return page

    def _counted_page(self, number, ordered: bool):
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if not ordered:
            return self._get_page(self.object_list[bottom:top], number, self)
        key = self._keyset()
        listed: Any = self.object_list
        rows = None
        if key is not None:
            listed = listed.annotate(keyset_value=F(key.lstrip("-")))
            rows = self._by_cursor(listed, key, top - bottom)
        if rows is None and bottom <= self.count - top:
            rows = list(listed[bottom:top])
        elif rows is None:
            rows = list(listed.reverse()[self.count - top : self.count - bottom])[::-1]
        page = self._get_page(rows, number, self)
        self._set_cursors(page, key, rows)
        return page

    @staticmethod
    def _set_cursors(page: ListPage, key: str | None, rows: list) -> None:
        if key is not None and rows:
            try:
                page.before_cursor, page.after_cursor = cursor_of(rows[0]), cursor_of(rows[-1])
            except TypeError:
                pass  # a sort value without a text form here: the links go by page number

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
