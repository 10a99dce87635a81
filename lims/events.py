"""How a lower layer tells the layers above that something happened.

The layers are lims <- batches <- assays <- release: a lower one never imports a higher one.
Where a higher layer must act on a lower layer's write (release re-evaluates a lot when its
metrics change), the lower layer defines a Django signal in its `events.py` and `announce`s it;
the higher layer connects a receiver in its AppConfig.ready(). The signal is sent only once the
transaction that made the change commits, so a receiver never sees (or enqueues work about)
data that could still roll back, and receivers take ids, never model instances.

The signals, all sent with sender=None and keyword arguments only:
- batches.events.lot_status_changed(lot_id, status)
- assays.events.run_recorded(run_id), instrument_file_received(file_id): assays' own
  receivers enqueue the metrics and the parsing
- assays.events.run_status_changed(run_id, status): a run was reviewed or invalidated
- assays.events.metrics_changed(lot_ids, culture_batch_ids): metrics of lots or batches were
  stored or recomputed; release re-evaluates them
"""

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)


def announce(signal: Signal, **kwargs: object) -> None:
    """Send `signal` once the current transaction commits (at once outside a transaction).

    A receiver that fails is logged, never raised: the change is already committed, and what a
    receiver could not do is found by the periodic catch-up tasks.
    """

    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                log.error("Receiver %r of %r failed", receiver, kwargs, exc_info=result)

    transaction.on_commit(send)
