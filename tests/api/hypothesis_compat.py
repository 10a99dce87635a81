"""Let hypothesis-jsonschema 0.23.1 (schemathesis' generator) run on the locked hypothesis.

hypothesis 6.170 replaced the `many(...).more()` loop protocol of its internal collection
helper with a `with many(...) as elements: for _ in elements:` one; hypothesis-jsonschema
0.23.1 still calls `.more()`, so every object schema fails to generate (AttributeError).
Until the lock pins a compatible pair, this adapter gives the old protocol on the new class.
"""

import types

from hypothesis.internal.conjecture import utils as cu
from hypothesis_jsonschema import _from_schema


class LegacyMany:
    """`while elements.more(): ...` on top of the new context-manager `many`."""

    def __init__(self, *args, **kwargs):
        self._many = cu.many(*args, **kwargs)
        self._elements = None

    def more(self) -> bool:
        if self._elements is None:
            self._many.__enter__()
            self._elements = iter(self._many)
        try:
            next(self._elements)
        except StopIteration:
            self._many.__exit__(None, None, None)
            return False
        return True

    def reject(self, why=None) -> None:
        self._many.reject(why)


def install() -> None:
    if not hasattr(cu.many, "more"):
        _from_schema.cu = types.SimpleNamespace(**{**vars(cu), "many": LegacyMany})
