"""Status as data: one function moves a record between the states its table allows.

A model declares `TRANSITIONS = {from_status: {to_status, ...}}`; `move_status` locks the row,
checks the move, records who and why in the audit context and writes the new status. The same
table is installed as a pgtrigger FSM trigger, so a write that skips this function is refused by
the database too.

Who may make a move is data as well (21 CFR 11.10(g), authority checks): a service passes its
table of `Move`s, {(from, to): who may, and the e-signature meaning the move needs}, and
`move_status` checks the actor against the move found under the row lock, the status the
record really has. The pages offer `moves_for(record, table, user)`, so nobody is shown a move
the service would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pgtrigger
from django.core.exceptions import ValidationError
from django.db import models, transaction

from lims.audit import audit_context
from lims.roles import require

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


@dataclass(frozen=True)
class Move:
    """Who may make one status move, and the e-signature it needs.

    `allowed` is a lims.roles predicate; `who` names those people in a refusal ("QA");
    `signed` is the Signature meaning the move is signed with (21 CFR 11.200), "" for none.
    """

    allowed: Callable[[Any], bool]
    who: str
    signed: str = ""


Moves = Mapping[tuple[str, str], Move]


def moves_for(instance, moves: Moves, user) -> list[str]:
    """The statuses `user` may move `instance` to from the status it has: allowed by its
    transition table and by `moves`."""
    return [
        to
        for to in allowed_moves(instance)
        if (rule := moves.get((instance.status, to))) is not None and rule.allowed(user)
    ]


def check_move(instance, moves: Moves, *, to: str, actor: User | None, signed: str = "") -> None:
    """Refuse the move of `instance` (its current status) to `to` unless `moves` lets `actor`
    make it, signed with the meaning it needs (RoleRefused, or a ValidationError on "to")."""
    model: Any = type(instance)
    statuses = dict(model.Status.choices)
    old, new = statuses.get(instance.status, instance.status), statuses.get(to, to)
    what = f"{model._meta.verbose_name} {instance}"
    rule = moves.get((instance.status, to))
    if rule is None:
        raise ValidationError(
            {"to": f"{what[:1].upper()}{what[1:]} is not moved from '{old}' to '{new}' here."}
        )
    require(rule.allowed, actor, f"Only {rule.who} may move {what} from '{old}' to '{new}'.")
    if rule.signed and signed != rule.signed:
        raise ValidationError(
            {
                "to": f"Moving {what} from '{old}' to '{new}' needs {rule.who}'s electronic "
                f"signature (meaning: {rule.signed})."
            }
        )


@transaction.atomic
def move_status(
    instance: _Model,
    *,
    to: str,
    actor: User | None,
    reason: str,
    extra_fields: dict[str, Any] | None = None,
    moves: Moves | None = None,
    signed: str = "",
) -> _Model:
    """Move `instance` to status `to`, or raise InvalidTransition saying why not.

    The row is locked first, so two people moving the same record at once are serialised and
    the second sees the first one's result. With `moves`, the actor must be allowed the move
    from the locked status, and `signed` (the meaning of the signature the caller stored in
    this transaction) must be the one the move needs.
    """
    # Any: the models with a status declare TRANSITIONS and have `objects`; Model has neither.
    model: Any = type(instance)
    locked = model.objects.select_for_update().get(pk=instance.pk)
    if getattr(locked, "voided_at", None) is not None:
        # A voided record stands as it was voided (GMP records are never deleted, nor moved on).
        raise InvalidTransition(
            f"{model._meta.verbose_name.capitalize()} {locked} is voided: its status does not "
            "change."
        )
    if to not in model.TRANSITIONS.get(locked.status, set()):
        raise InvalidTransition(
            f"{model._meta.verbose_name.capitalize()} {locked} cannot go from "
            f"'{locked.get_status_display()}' to '{to}'."
        )
    if moves is not None:
        check_move(locked, moves, to=to, actor=actor, signed=signed)
    if not reason or not reason.strip():
        raise ValidationError({"reason": "A reason is required for a status change."})
    locked.status = to
    for name, value in (extra_fields or {}).items():
        setattr(locked, name, value)
    with audit_context(actor=actor, reason=reason):
        locked.save(update_fields=["status", *(extra_fields or {})])
    instance.refresh_from_db()
    return instance
