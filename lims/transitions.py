"""Status as data: one function moves a record between the states its table allows.

A model declares `TRANSITIONS = {from_status: {to_status, ...}}`; `move_status` locks the row,
checks the move, records who and why in the audit context and writes the new status. The same
table is installed as a pgtrigger FSM trigger, so a write that skips this function is refused by
the database too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import pgtrigger
from django.core.exceptions import ValidationError
from django.db import models, transaction

from lims.audit import audit_context

if TYPE_CHECKING:
    from lims.models import User

_Model = TypeVar("_Model", bound=models.Model)


class InvalidTransition(ValidationError):
    """A status move that the model's transition table does not allow."""


def fsm_trigger(transitions: dict[str, set[str]], field: str = "status") -> pgtrigger.FSM:
    pairs = sorted((old, new) for old, targets in transitions.items() for new in targets)
    return pgtrigger.FSM(name=f"{field}_transitions", field=field, transitions=pairs)


def allowed_moves(instance) -> list[str]:
    return sorted(type(instance).TRANSITIONS.get(instance.status, set()))


@transaction.atomic
def move_status(
    instance: _Model,
    *,
    to: str,
    actor: User | None,
    reason: str,
    extra_fields: dict[str, Any] | None = None,
) -> _Model:
    """Move `instance` to status `to`, or raise InvalidTransition saying why not.

    The row is locked first, so two people moving the same record at once are serialised and
    the second sees the first one's result.
    """
    # Any: the models with a status declare TRANSITIONS and have `objects`; Model has neither.
    model: Any = type(instance)
    locked = model.objects.select_for_update().get(pk=instance.pk)
    if to not in model.TRANSITIONS.get(locked.status, set()):
        raise InvalidTransition(
            f"{model._meta.verbose_name.capitalize()} {locked} cannot go from "
            f"'{locked.get_status_display()}' to '{to}'."
        )
    if not reason or not reason.strip():
        raise ValidationError({"reason": "A reason is required for a status change."})
    locked.status = to
    for name, value in (extra_fields or {}).items():
        setattr(locked, name, value)
    with audit_context(actor=actor, reason=reason):
        locked.save(update_fields=["status", *(extra_fields or {})])
    instance.refresh_from_db()
    return instance
