"""Pagination of the API's lists.

Most lists are short (assays, instruments, lots) and keep limit/offset with an exact count. The
long ones, runs and results (a busy site's ten years: 50,000 runs, a million results), are read
by keyset (issue 14): a page is the rows after the last one of the page before, by the list's
indexed sort key, so the hundredth page costs what the first does; an OFFSET reads and discards
every row before it and the count reads them all.

A keyset page answers `next` and `previous` links carrying an opaque `cursor`. A request that
still sends `offset` gets the old limit/offset page with its count (clients written before the
cursor keep working, at the old cost).
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

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
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
    """Pages by a two-column sort key whose second column is unique (the id)."""

    keys: tuple[Key, Key]
    cursor_query_param = "cursor"
    limit_query_param = "limit"
    offset_query_param = "offset"

    def __init__(self):
        self.offset_pagination: Pagination | None = None

    # --- reading a page ---

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        if self.offset_query_param in request.query_params:
            self.offset_pagination = Pagination()
            return self.offset_pagination.paginate_queryset(queryset, request, view)
        self.request = request
        self.limit = self._limit(request)
        position, reverse = self._decode(
            queryset, request.query_params.get(self.cursor_query_param)
        )
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

    def cursor_for(self, row: dict, reverse: bool = False) -> str:
        """The cursor of the page that starts after `row` (before it, reading in `reverse`)."""
        values = [_jsonable(row[key.row_key]) for key in self.keys]
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

    def _link(self, row: dict, reverse: bool) -> str:
        url = self.request.build_absolute_uri()
        url = remove_query_param(url, self.offset_query_param)
        return replace_query_param(url, self.cursor_query_param, self.cursor_for(row, reverse))

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        return self._link(self.page[-1], reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous or not self.page:
            return None
        return self._link(self.page[0], reverse=True)

    # --- the answer and its schema ---

    def get_paginated_response(self, data):
        if self.offset_pagination is not None:
            return self.offset_pagination.get_paginated_response(data)
        return Response(
            {"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "description": "Only with `offset`: how many rows the list has in all.",
                },
                "next": {**link, "description": "The next page (null on the last page)."},
                "previous": {**link, "description": "The page before (null on the first)."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
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
                "deprecated": True,
                "description": "The old paging, kept for existing clients: rows to skip, with "
                "the list's `count`. A deep offset is slow on a long list; follow `next` instead.",
                "schema": {"type": "integer"},
            },
        ]


def _jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


class RunPagination(KeysetPagination):
    """Runs newest first (an index on started_at, id)."""

    keys = (Key("started_at", "started_at", True), Key("id", "id", True))


class ResultPagination(KeysetPagination):
    """Results of the newest runs first, a run's results in the order they were recorded (the
    index on run_id, then the ids of one run)."""

    keys = (Key("run_id", "run_ref", True), Key("id", "id", False))
