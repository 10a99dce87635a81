"""Request body parsers that answer 400 or 413, never 500, whatever the bytes."""

import io

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from rest_framework import parsers

from assays.api.errors import MalformedRequest, PayloadTooLarge


class JSONParser(parsers.JSONParser):
    """DRF's strict JSON parser (no NaN or Infinity), also refusing what the standard library
    raises outside ValueError: nesting deeper than the recursion limit, an unknown charset.

    A JSON body has its own limit, settings.API_JSON_MAX_BYTES (a few MB), far below the file
    upload limit: a parsed document takes many times its size in memory (OWASP API Security
    Top 10 2023, API4 Unrestricted Resource Consumption: "define and enforce a maximum size of
    data on all incoming parameters and payloads"). ApiView refuses a larger Content-Length before
    reading; this refuses a body that turns out larger all the same, reading no more than the
    limit and one byte.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_JSON_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The JSON body is over the limit of {limit} bytes.")
        try:
            return super().parse(io.BytesIO(raw), media_type, parser_context)
        except (RecursionError, LookupError) as exc:
            raise MalformedRequest(f"JSON parse error - {type(exc).__name__}") from exc


def check_storable_text(data) -> None:
    """Refuse strings PostgreSQL cannot store: a NUL character or an unpaired surrogate
    (JSON can escape both, "\\u0000" and "\\ud800"). Serializer fields refuse them field by
    field; a body stored from the document itself (ASM) is checked whole with this."""
    pending = [data]
    while pending:  # iterative: a document may nest as deep as the JSON parser allows
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and ("\x00" in item or not _encodable(item)):
            raise MalformedRequest(
                "JSON parse error - a string holds a NUL character or an unpaired surrogate."
            )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except (LookupError, UnicodeError, ValueError) as exc:
            raise MalformedRequest(f"Multipart form parse error - {exc}") from exc


class UploadLimitHandler(FileUploadHandler):
    """Stops a multipart upload as soon as its files pass settings.FILE_UPLOAD_MAX_BYTES.

    The Content-Length check comes first (ApiView); this covers a body sent without one
    (chunked), which would otherwise be written to a temporary file whole before being refused.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        limit = settings.FILE_UPLOAD_MAX_BYTES
        if self.received > limit:
            raise PayloadTooLarge(f"The file is larger than the limit of {limit} bytes.")
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handlers build the file
