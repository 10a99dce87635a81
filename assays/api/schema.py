"""OpenAPI pieces shared by the endpoints: the error bodies of each status and common headers."""

from functools import cache

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from assays.api.errors import ERROR_CODES
from assays.api.idempotency import HEADER, REPLAYED_HEADER

READ = (401, 403, 406, 429)
LIST = (400, *READ)
DETAIL = (404, *READ)
WRITE = (400, 401, 403, 406, 409, 413, 415, 422, 429)


@cache
def error_serializer(status: int) -> type[serializers.Serializer]:
    """The error body of one status, its `code` an enum of the codes that status can carry."""
    codes = sorted(ERROR_CODES[status])

    @extend_schema_field({"type": "string", "enum": codes})
    class CodeField(serializers.CharField):
        pass

    fields = {
        "code": CodeField(help_text="Stable, machine-readable error code."),
        "message": serializers.CharField(help_text="What went wrong, for a person."),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Messages per field (`results[2].value`, `non_field_errors`); "
            "empty when no field is at fault.",
        ),
        "__doc__": f"An error answered with HTTP {status}.",
    }
    return type(f"Error{status}", (serializers.Serializer,), fields)


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    return {
        status: OpenApiResponse(
            response=error_serializer(status),
            description="\n".join(
                f"- `{code}`: {meaning}" for code, meaning in ERROR_CODES[status].items()
            ),
        )
        for status in statuses
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID) per logical request, 1-200 visible ASCII "
    "characters. A retry with the same key and body replays the first answer (header "
    f"`{REPLAYED_HEADER}: true`); the same key with another body is 422 "
    "`idempotency_key_reused`; a retry while the first is still processed is 409 "
    "`idempotency_request_in_progress`.",
    pattern=r"^[\x21-\x7e]{1,200}$",
)

REPLAYED = OpenApiParameter(
    name=REPLAYED_HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    response=True,
    enum=["true"],
    description="Present on a replayed answer to a retry with a known Idempotency-Key.",
)


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, adding to every operation the errors it can answer."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if self.method == "POST":
            statuses = WRITE
        elif "{" in self.path:
            statuses = DETAIL
        else:
            statuses = LIST
        for status, response in error_responses(*statuses).items():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    response, str(status), direction=direction
                )
        return responses


class InstrumentKeyScheme(OpenApiAuthenticationExtension):
    """The security scheme of the OpenAPI document."""

    target_class = "assays.api.auth.InstrumentKeyAuthentication"
    name = "InstrumentKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "An instrument's API key, sent as `Authorization: Api-Key <key>`. "
            "Issued by an administrator (`python manage.py instrument_key <instrument-code>`); "
            "shown once.",
        }
