"""People and cross-cutting records of the LIMS."""

from django.contrib.auth.models import AbstractUser
from django.db import models

import pgtrigger

from lims.audit import audited


@audited(exclude=["password", "last_login"])
class User(AbstractUser):
    """A person who signs in: technician, analyst, QA or administrator.

    Accounts are never deleted and usernames never change (21 CFR 11.300(a): no reuse of IDs);
    leaving staff are deactivated. The database refuses both, whatever the caller.
    """

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        permissions = [("view_audit_trail", "Can view and export the audit trail")]
        triggers = [
            pgtrigger.Protect(name="users_never_deleted", operation=pgtrigger.Delete),
            pgtrigger.ReadOnly(name="username_never_changes", fields=["username"]),
        ]

    @property
    def printed_name(self) -> str:
        return self.get_full_name() or self.username


class IdentifierSequence(models.Model):
    """The last number handed out for one kind of identifier in one year."""

    kind = models.CharField(max_length=40)
    year = models.PositiveIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "year"], name="one_sequence_per_kind_year")
        ]
