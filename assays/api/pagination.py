"""Pagination of the API's lists.

The catalogues (assays, instruments, specifications, reference standards) are short and keep
limit/offset with an exact count. The lists that grow with the history (runs, results, vials,
lots, culture batches, deviations, signatures, reviews, training, retained and received
samples: a busy site's ten years holds a million results and 100,000 vials) are read by keyset
(issue 14): a page is the rows after the last one of the page before, by the list's indexed sort
key, so the hundredth page costs what the first does; an OFFSET reads and discards every row
before it and an exact count reads them all.

A keyset page answers `next` and `previous` links carrying an opaque `cursor`. Clients written
before the cursor still send `offset`, and get the old page shape (`count`, `next`, `previous`,
`results`) within a window of the first OFFSET_WINDOW rows, as Elasticsearch serves `from` +
`size` up to its `index.max_result_window` (10,000) and refuses past it
(https://www.elastic.co/guide/en/elasticsearch/reference/current/index-modules.html):

- `offset` + `limit` may not exceed the window; past it the answer is 400 `offset_beyond_window`
  naming the `offset` field (a deep offset cannot be served at the cost of the first page: the
  database reads every row before it);
- `count` counts at most the window (the rows offset paging reaches), and `count_exact` says
  whether that is the list's size;
- the window's last page links `next` to a cursor page, so a client that follows `next` reads
  the whole list whatever its length.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, LimitOffsetPagination, _positive_int
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from assays.api.errors import OffsetBeyondWindow
from lims.pagination import COUNTED_ROWS, bounded_count

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
OFFSET_WINDOW = COUNTED_ROWS  # the rows the web lists count exactly, for the same reason
INVALID_CURSOR = "Not a cursor of this list: use the `next` or `previous` link of a page."


class Pagination(LimitOffsetPagination):
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT


@dataclass(frozen=True)
class Key:
    """One column of the sort key: the lookup filtered and ordered on, the row's key holding its
    value, and whether it sorts descending."""

    lookup: str
    row_key: str
    descending: bool

    def ordering(self, reverse: bool) -> str:
        return f"-{self.lookup}" if self.descending != reverse else self.lookup

    def beyond(self, reverse: bool, *, or_equal: bool = False) -> str:
        """The lookup of the values that come after a position, in the reading direction."""
        before = self.descending != reverse
        return f"{self.lookup}__{'l' if before else 'g'}t{'e' if or_equal else ''}"


class KeysetPagination(BasePagination):
    """Pages by a two-column sort key whose columns are unique together (the second is usually
    the id). `offset` pages within the window (the module's docstring); with
    `offset_by_default`, a request with neither `cursor` nor `offset` gets the offset page at 0
    (the lists whose clients always had a `count`), otherwise the first keyset page."""

    keys: tuple[Key, Key]
    offset_by_default = False
    cursor_query_param = "cursor"
    limit_query_param = "limit"
    offset_query_param = "offset"

    def __init__(self):
        self.offset: int | None = None  # None: a keyset page

    # --- reading a page ---

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        self.request = request
        self.limit = self._limit(request)
        params = request.query_params
        if self.offset_query_param in params or (
            self.offset_by_default and self.cursor_query_param not in params
        ):
            return self._offset_page(queryset, self._offset(request))
        position, reverse = self._decode(queryset, params.get(self.cursor_query_param))
        rows = queryset.order_by(*(key.ordering(reverse) for key in self.keys))
        if position is not None:
            rows = rows.filter(self._after(position, reverse))
        page = list(rows[: self.limit + 1])
        more = len(page) > self.limit
        page = page[: self.limit]
        if reverse:
            page.reverse()
        self.page = page
        # Reading forward, a next page exists when a row was left over; a previous one when the
        # page started after a position. Reading backward, the other way round.
        self.has_next = more if not reverse else position is not None
        self.has_previous = position is not None if not reverse else more
        return page

    def _offset_page(self, queryset: QuerySet, offset: int) -> list:
        """The old limit/offset page, in the list's own order, within the window."""
        if offset + self.limit > OFFSET_WINDOW:
            raise OffsetBeyondWindow(
                {self.offset_query_param: [offset_beyond_window(offset, self.limit)]}
            )
        self.offset = offset
        # Counting one row past the window tells whether the list is longer than it; the
        # database stops there instead of counting every row.
        self.counted = bounded_count(queryset, OFFSET_WINDOW)
        # The rows skipped are read as ids only, then the page's rows by id: an OFFSET of 9,900
        # through a list's joins and columns costs several times the ids' (154 vs 37 ms for the
        # results of a busy site's ten years).
        ids = list(queryset.values_list("pk", flat=True)[offset : offset + self.limit])
        position = {pk: index for index, pk in enumerate(ids)}
        rows = queryset.filter(pk__in=ids) if ids else []
        self.page = sorted(rows, key=lambda row: position[_value(row, "id")])
        return self.page

    def _offset(self, request) -> int:
        try:
            return _positive_int(request.query_params[self.offset_query_param])
        except (KeyError, ValueError):
            return 0

    def _after(self, position: list, reverse: bool) -> Q:
        """Rows after `position` in the reading direction. The first column's range (≤ or ≥ its
        value) is stated alone as well, so that it bounds the index scan of that column."""
        first, second = self.keys
        return Q(**{first.beyond(reverse, or_equal=True): position[0]}) & (
            Q(**{first.beyond(reverse): position[0]}) | Q(**{second.beyond(reverse): position[1]})
        )

    def _limit(self, request) -> int:
        try:
            return _positive_int(
                request.query_params[self.limit_query_param], strict=True, cutoff=MAX_LIMIT
            )
        except (KeyError, ValueError):
            return DEFAULT_LIMIT

    # --- cursors ---

    def cursor_for(self, row, reverse: bool = False) -> str:
        """The cursor of the page that starts after `row` (before it, reading in `reverse`)."""
        values = [_jsonable(_value(row, key.row_key)) for key in self.keys]
        token = json.dumps({"k": values, "r": int(reverse)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")

    def _decode(self, queryset: QuerySet, cursor: str | None) -> tuple[list | None, bool]:
        if cursor is None or cursor == "":
            return None, False
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            token = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            values, reverse = token["k"], bool(token.get("r", 0))
            if not isinstance(values, list) or len(values) != len(self.keys):
                raise ValueError("wrong length")
            position = [
                queryset.model._meta.get_field(key.lookup).to_python(value)
                for key, value in zip(self.keys, values, strict=True)
            ]
            if any(value is None for value in position):
                raise ValueError("a null position")
        except (
            ValueError,
            TypeError,
            KeyError,
            UnicodeError,
            binascii.Error,
            DjangoValidationError,
        ) as exc:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from exc
        return position, reverse

    def _link(self, row, reverse: bool) -> str:
        url = self.request.build_absolute_uri()
        url = remove_query_param(url, self.offset_query_param)
        return replace_query_param(url, self.cursor_query_param, self.cursor_for(row, reverse))

    def _offset_link(self, offset: int) -> str:
        url = replace_query_param(
            self.request.build_absolute_uri(), self.limit_query_param, self.limit
        )
        return replace_query_param(url, self.offset_query_param, offset)

    def get_next_link(self) -> str | None:
        if self.offset is not None:
            if self.counted <= self.offset + self.limit or not self.page:
                return None
            following = self.offset + self.limit
            if following + self.limit <= OFFSET_WINDOW:
                return self._offset_link(following)
            # The next offset page would cross the window: go on by cursor, same order.
            return self._link(self.page[-1], reverse=False)
        if not self.has_next or not self.page:
            return None
        return self._link(self.page[-1], reverse=False)

    def get_previous_link(self) -> str | None:
        if self.offset is not None:
            if self.offset <= 0:
                return None
            return self._offset_link(max(0, self.offset - self.limit))
        if not self.has_previous or not self.page:
            return None
        return self._link(self.page[0], reverse=True)

    # --- the answer and its schema ---

    def get_paginated_response(self, data):
        links = {"next": self.get_next_link(), "previous": self.get_previous_link()}
        if self.offset is None:
            return Response({**links, "results": data})
        return Response(
            {
                "count": min(self.counted, OFFSET_WINDOW),
                "count_exact": self.counted <= OFFSET_WINDOW,
                **links,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "nullable": True, "format": "uri"}
        with_offset = "With `offset`"
        if self.offset_by_default:
            with_offset += " (or neither `offset` nor `cursor`)"
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "maximum": OFFSET_WINDOW,
                    "description": f"{with_offset} only: how many rows offset paging reaches, "
                    f"the list's size up to {OFFSET_WINDOW:,} (see `count_exact`).",
                },
                "count_exact": {
                    "type": "boolean",
                    "description": f"{with_offset} only: false when the list has more than "
                    f"{OFFSET_WINDOW:,} rows; the rest are read by following `next`.",
                },
                "next": {
                    **link,
                    "description": "The next page (null on the last page). Past the offset "
                    "window it carries a `cursor`: follow it to read the whole list.",
                },
                "previous": {**link, "description": "The page before (null on the first)."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        window = (
            f"`offset` + `limit` may not exceed {OFFSET_WINDOW:,}: a deeper offset is answered "
            "400 `offset_beyond_window`, and the list is read on by following `next` (a "
            "`cursor`). The page has `count` and `count_exact`."
        )
        offset: dict[str, object]
        if self.offset_by_default:
            offset = {
                "description": f"Rows to skip (absent: the first page, by offset). {window}",
            }
        else:
            offset = {
                "deprecated": True,
                "description": "The old paging, kept for clients written before the cursor: "
                f"rows to skip. {window}",
            }
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: the cursor of a `next` or `previous` "
                "link (absent: the first page).",
                "schema": {"type": "string"},
            },
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page ({DEFAULT_LIMIT} by default, at most {MAX_LIMIT}).",
                "schema": {"type": "integer"},
            },
            {
                "name": self.offset_query_param,
                "required": False,
                "in": "query",
                **offset,
                "schema": {"type": "integer", "minimum": 0, "maximum": OFFSET_WINDOW - 1},
            },
        ]


def _jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _value(row, name: str):
    """A column of a row: a dict from `.values()` or a model instance."""
    return row[name] if isinstance(row, dict) else getattr(row, name)


def offset_beyond_window(offset: int, limit: int) -> str:
    return (
        f"offset {offset:,} + limit {limit:,} is past the first {OFFSET_WINDOW:,} rows, the "
        "most this list serves by offset (a deeper offset reads every row before it). Follow "
        "the `next` link of a page instead: past the window it carries a `cursor`, and "
        "reaches every row."
    )


def keyset(first: Key, *, id_descending: bool, by_default_offset: bool = True) -> type:
    """The pagination of a list ordered by `first`, then the id."""
    return type(
        "KeysetPagination",
        (KeysetPagination,),
        {
            "keys": (first, Key("id", "id", id_descending)),
            "offset_by_default": by_default_offset,
        },
    )


class RunPagination(KeysetPagination):
    """Runs newest first (an index on started_at, id)."""

    keys = (Key("started_at", "started_at", True), Key("id", "id", True))


class ResultPagination(KeysetPagination):
    """Results of the newest runs first, a run's results in the order they were recorded (the
    index on run_id, then the ids of one run)."""

    keys = (Key("run_id", "run_ref", True), Key("id", "id", False))


# The lists that grow with the history and had offset pages with a count (their default stays
# the offset page at 0; past the window, `next` goes on by cursor).
CultureBatchPagination = keyset(Key("created_at", "created_at", True), id_descending=True)
LotPagination = keyset(Key("created_at", "created_at", True), id_descending=True)


class AliquotPagination(KeysetPagination):
    """Vials lot by lot, in their number order (the unique index on lot, number)."""

    keys = (Key("lot_id", "lot_id", False), Key("number", "number", False))
    offset_by_default = True
