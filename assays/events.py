"""What the assay layer announces, once committed (see lims.events)."""

from django.dispatch import Signal

# A run and its results were recorded. Keyword arguments: run_id.
run_recorded = Signal()

# An instrument file was received and waits to be parsed. Keyword arguments: file_id.
instrument_file_received = Signal()

# A run was reviewed or invalidated. Keyword arguments: run_id, status (the new one).
run_status_changed = Signal()

# The metrics of lots or culture batches changed: metrics stored, or recomputed after a run they
# rest on was reviewed or invalidated. Keyword arguments: lot_ids, culture_batch_ids (lists of ids).
metrics_changed = Signal()

# Before a run is invalidated, not after commit: a veto. Keyword arguments: run (the AssayRun),
# investigation (the deviation whose signed closure invalidates it, or None). A receiver returns
# the reason it refuses, or None; the first refusal stops the invalidation (release refuses a
# run that an open OOS investigation rests on: only QA's signed closure invalidates it).
run_invalidation_requested = Signal()
