"""What production announces to the layers above, once committed (see lims.events)."""

from django.dispatch import Signal

# A lot moved to another status. Keyword arguments: lot_id, status (the new one).
lot_status_changed = Signal()
