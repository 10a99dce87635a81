"""Celery tasks of the core: sealing and verifying the audit chain (lims.audit_chain).

Both are periodic (CELERY_BEAT_SCHEDULE) and safe to run twice: sealing takes an advisory lock
and seals only what is new; a verification only adds its result.
"""

import logging

from celery import shared_task

from lims import audit_chain
from lims.system import as_system

log = logging.getLogger(__name__)


@shared_task
@as_system
def seal_audit_trail() -> int:
    return audit_chain.seal()


@shared_task
@as_system
def verify_audit_chain() -> bool:
    result = audit_chain.check()
    if not result.intact:
        log.error("Audit chain broken: %s", result.first_break)
    return result.intact
