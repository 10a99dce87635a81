"""The one exception every instrument-file parser raises for input it cannot read."""

_MAX_DETAIL = 300


class ParseError(ValueError):
    """An instrument file could not be read; the message says which file and why.

    Raised for anything wrong with the input (wrong format, truncated or corrupt file, values
    that are not numbers). Third-party readers raise all kinds of exceptions on bad input; the
    parsers translate them into this one so a caller (API view, Celery task) needs one
    ``except`` clause to turn a bad upload into a readable rejection.
    """

    def __init__(self, message: str, *, source: str = "") -> None:
        self.source = source
        self.detail = message
        super().__init__(f"{source}: {message}" if source else message)


def shorten(detail: object) -> str:
    """A third-party error message cut to a readable length.

    allotropy, for one, puts the whole undecodable file into some messages.
    """
    text = " ".join(str(detail).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"
