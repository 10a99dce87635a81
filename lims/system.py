"""Work the installation does by itself (Celery tasks): attributed to the system account, with
the task named, in the audit trail (ALCOA+ attributable; 21 CFR 11.10(e)).

Without it, a task run eagerly inside a request (no broker configured) would write under the
signed-in person's name, and one on a worker under nobody's.
"""

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from lims.audit import audit_context
from lims.models import system_user

P = ParamSpec("P")
R = TypeVar("R")


def as_system(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` as the system account, the audit context naming it as the task."""
    task = f"{func.__module__}.{func.__name__}"

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with audit_context(actor=system_user(), task=task):
            return func(*args, **kwargs)

    return wrapper
