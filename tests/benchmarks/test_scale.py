"""The scale benchmark at CI size (tests/benchmarks/scale.py; the README's Scale section has the
by-hand run at the tenth and the full size of a busy site's ten years).

A generated history at the `ci` scale is measured, then nine more are appended (ten times the
rows) and it is measured again. Asserted, with a margin for a loaded CI machine: every endpoint
answers 200 (an offset past the API's window 400), its query count does not depend on the size,
and it stays within its goal (p95 within twice its floor or 300 ms) with a slack of five for the
noise of a shared machine, for the endpoints listed in TIMED; a streamed export's first row must
not come later with the data. The three writes of issue 14 item 4 (posting a run of 600
results, an NTA file parsed into its run, metrics and evaluation, and QA's signed release of a
lot: scale.measure_writes) are timed on the empty database and again on the ten histories, and
must not slow down with them.
"""

import pytest

from release.history import generate
from tests.benchmarks import scale

pytestmark = pytest.mark.django_db

REQUESTS = 3
SLACK = 5.0
WRITE_REPEATS = 3
WRITE_SLACK = 2.5
# The endpoints whose time is asserted (those brought within the goal, issue 14); the others are
# measured and printed (the README's Scale section lists what remains), their queries asserted.
TIMED = {
    "audit trail",
    "audit by user",
    "audit by record type",
    "audit CSV of one record type",
    "audit since a day",
    "API runs",
    "API results",
    "API runs deep page",
    "API results deep page",
    "API results offset at the window's edge",
    "API results deep offset (old clients)",
}


# Twenty histories' worth of measuring, and each write's lot made anew for every repeat.
@pytest.mark.timeout(900)
def test_every_endpoint_keeps_its_queries_and_time_at_ten_times_the_data(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    empty_writes = scale.measure_writes(repeats=WRITE_REPEATS)
    timings = generate(scale="ci", log=lambda line: None)
    print(
        "\n"
        + "\n".join(f"{t.table}: {t.rows} rows, {t.rows_per_second:.0f} rows/s" for t in timings)
    )
    small = scale.measure(requests=REQUESTS)
    for seed in range(1, 10):
        generate(scale="ci", seed=seed, log=lambda line: None)
    large = scale.measure(requests=REQUESTS)
    print("\n" + scale.table(small, large, labels=("ci", "ci x10")))
    large_writes = scale.measure_writes(repeats=WRITE_REPEATS)
    print("\n" + scale.table(empty_writes, large_writes, labels=("empty", "ci x10")))

    by_name = {m.name: m for m in small}
    for m in large:
        assert m.status == scale.STATUS.get(m.name, 200), m
        assert m.queries <= by_name[m.name].queries + 1, (
            m.name,
            by_name[m.name].queries,
            m.queries,
        )
        if m.name in TIMED:
            assert m.p95 <= SLACK * max(2 * m.floor, 0.300), m
        if m.first_row is not None:
            # A streamed export grows with its rows; its first row must not.
            small_first = by_name[m.name].first_row
            assert m.first_row_p95 <= SLACK * max(1.5 * small_first, 0.300), m
    # Writing does not slow down with the history (issue 14 item 4); the slack is the machine's.
    for empty, large in zip(empty_writes, large_writes, strict=True):
        assert large.median <= WRITE_SLACK * empty.median, (empty, large)
        assert large.queries <= empty.queries + 1, (empty, large)
