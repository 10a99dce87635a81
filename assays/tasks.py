"""Celery tasks: they take ids, call one service, and are safe to run twice."""

from celery import shared_task
from django.db import OperationalError

from assays import services


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=300, max_retries=8
)
def parse_instrument_file(file_id: str) -> str:
    return services.instrument_file_parse(file_id).status
