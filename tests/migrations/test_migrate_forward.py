"""A database built by production's code, with demo data, migrates forward unchanged.

FIXTURE is a dump of a database that an earlier commit built and filled (migrate, seed_demo and
the signatures of make_fixture.py); its sidecar holds what that commit's code said of it: the
row count of every table, a digest of every audit table and of the signatures, and whether
each signature was still valid. The test restores the dump into a scratch database beside the
test database, runs this commit's `manage.py migrate` on it, as a deployment does, and checks:

* every table is still there with the same number of rows, except the few in ALLOWED_TO_GROW,
  which may gain rows but keep every row they had;
* every audit event (every django-pghistory event table, found by its pgh_ columns whichever app
  owns the model now) and every pghistory context is unchanged, row for row, and so is every
  signature (the table the database already refuses to update);
* no table has fewer triggers than before (pgtrigger's protections and pghistory's event
  triggers may be re-created under new names, not lost);
* every signature's validity, computed by this commit's code, is what the fixture's code said.

New tables may appear. `migrate` runs in a subprocess with DATABASE_URL naming the scratch
database: that is how a deployment runs it, and a data migration that forgets `using` cannot
write into the test database instead. The test does not need the test database itself, only
its server and name, so run alone it does not create one.

Regenerate the fixture with tests/migrations/make_fixture.py (its docstring says how).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.migrations import database

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "migrations" / "demo-faf6e61.sql.gz"
SIDECAR = FIXTURE.with_name(FIXTURE.name.removesuffix(".sql.gz") + ".json")


def signature_validity() -> dict[str, bool | None]:
    """{signature id: whether it still matches its record's content} for every signature of
    the database Django is connected to, computed as the pages compute the "invalid" badge
    (release/views.py, release/selectors.py): a specification's approval
    signature against Specification.signed_content(), a deviation's closure signature against
    Deviation.signed_content(), a disposition's signature against release_content(lot,
    decision). None: a signature no record shows.

    This is the function to adapt when the records or their content functions move.
    """
    from lims.models import Signature
    from lims.signatures import is_valid, signatures_of
    from release.models import Deviation, Disposition, Specification
    from release.selectors import release_content

    valid = {}
    for spec in Specification.objects.exclude(approval_signature=None).select_related(
        "approval_signature"
    ):
        if spec.approval_signature in signatures_of(spec):  # found under its former label
            valid[spec.approval_signature_id] = is_valid(
                spec.approval_signature, spec.signed_content()
            )
    for deviation in Deviation.objects.exclude(closure_signature=None).select_related(
        "closure_signature"
    ):
        if deviation.closure_signature in signatures_of(deviation):
            valid[deviation.closure_signature_id] = is_valid(
                deviation.closure_signature, deviation.signed_content()
            )
    for disposition in Disposition.objects.select_related("signature", "lot"):
        valid[disposition.signature_id] = is_valid(
            disposition.signature, release_content(disposition.lot, disposition.decision)
        )
    return {str(pk): valid.get(pk) for pk in Signature.objects.values_list("pk", flat=True)}


# Tables whose rows a migration may add to, never remove or renumber (other rows point at them:
# group permissions, admin log, generic relations). Every other table keeps its row count.
ALLOWED_TO_GROW = {
    "django_migrations": "a row per migration applied",
    "django_content_type": "a row per new model; a moved model keeps its row (renamed in place)",
    "auth_permission": "four rows per new model, on the content type's row",
    "assays_analyte": "assays 0009: the analyte a validity criterion reads (LAL curve r), added "
    "to version 1 of its assay; assays 0012: the analytes of the assays below; assays 0013: the "
    "run controls the qPCR and standard-curve validity criteria read (NTC, efficiency, curve "
    "converged, standards in tolerance), added to version 1 of MYCO, MYCO-CB, MIRNA-QPCR, BCA; "
    "assays 0022: the multiplex cytokine concentration, added to version 1 of POTENCY-MAC",
    "assays_assaydefinition": "assays 0012: the assays version 2 of the drug-substance "
    "specification needs (MISEV2023), added to the catalogue",
    "assays_specification": "release 0006: version 2 of the drug-substance specification, "
    "installed as a draft where only version 1 exists",
    "assays_criterion": "release 0006: that draft's criteria",
}

# Audit tables a data migration adds events to: the change it makes to the records is audited
# like any other (who: the migration, why: its reason). Each may gain rows; every row it had
# stays exactly as it was. {table: (key column, why)}.
AUDITED_BY_DATA_MIGRATIONS = {
    "batches_aliquotevent": ("pgh_id", "batches 0006: a vial moved to its lot's status"),
    "batches_isolationinputevent": (
        "pgh_id",
        "batches 0007: what each isolation run took from each harvest, filled in",
    ),
    "assays_analyteevent": ("pgh_id", "assays 0009, 0013 and 0022: those analytes' creation"),
    "assays_assaydefinitionevent": (
        "pgh_id",
        "assays 0008: the reagent lots each assay requires, set in the catalogue; assays 0013: "
        "the qPCR and standard-curve validity criteria, set on version 1 of those assays; "
        "assays 0023: the qPCR analysis (Pfaffl) configured on version 1 of MIRNA-QPCR",
    ),
    "assays_specificationevent": ("pgh_id", "release 0006: the draft's creation"),
    "assays_criterionevent": ("pgh_id", "release 0006: its criteria's creation"),
    "pghistory_context": ("id", "the context (reason) of those events"),
}


def _scratch_name(settings_dict: dict) -> str:
    """<test database name>_migrate_forward: one per pytest-xdist worker, as test databases."""
    name = settings_dict["NAME"]
    test_name = (settings_dict.get("TEST") or {}).get("NAME")  # set by xdist or settings
    if test_name:
        name = test_name
    elif not name.startswith("test_"):  # the test database is not created yet
        name = f"test_{name}"
    return f"{name}_migrate_forward"


@pytest.fixture
def scratch_database(django_db_modify_db_settings):
    """An empty database next to the test database (same server, so the embedded one too)."""
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    params, name = database.server_params(settings_dict), _scratch_name(settings_dict)
    database.create_database(params, name)
    yield params, name, database.database_url(settings_dict, name)
    database.drop_database(params, name)


def _manage(url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _look(conn, before=None) -> dict:
    counts = database.row_counts(conn)
    if before is None:
        kept = {t: database.columns_of(conn, t) for t in database.audit_tables(conn)}
        kept["lims_signature"] = database.columns_of(conn, "lims_signature")
    else:
        kept = before["columns"]
    grown = {
        table: database.primary_keys(conn, table, key)
        for table, (key, _) in AUDITED_BY_DATA_MIGRATIONS.items()
        if table in counts
    }
    digests = {}
    for table, columns in kept.items():
        missing = set(columns) - set(database.columns_of(conn, table))
        if missing:
            digests[table] = f"columns gone: {sorted(missing)}"
        elif before is not None and table in AUDITED_BY_DATA_MIGRATIONS:
            # The rows it had, as they were (the rows a data migration added are not compared).
            key = AUDITED_BY_DATA_MIGRATIONS[table][0]
            digests[table] = database.table_digest(
                conn, table, columns, key=key, keys=before["grown"][table]
            )
        else:
            digests[table] = database.table_digest(conn, table, columns)
    return {
        "grown": grown,
        "counts": counts,
        "columns": kept,
        "digests": digests,
        "triggers": database.trigger_counts(conn),
        "ids": {t: database.primary_keys(conn, t) for t in ALLOWED_TO_GROW if t in counts},
    }


def test_a_demo_database_of_production_migrates_forward_unchanged(scratch_database):
    params, name, url = scratch_database
    fixture = json.loads(SIDECAR.read_text())

    database.restore(params, name, FIXTURE)
    with database.connect(params, name, autocommit=True) as conn:
        before = _look(conn)
    # The dump restored whole: what the fixture's code counted and digested.
    assert before["counts"] == fixture["row_counts"]
    assert before["digests"] == fixture["digests"]

    _manage(url, "manage.py", "migrate", "--noinput")

    with database.connect(params, name, autocommit=True) as conn:
        after = _look(conn, before)
    problems = []
    for table, count in before["counts"].items():
        now = after["counts"].get(table)
        if now is None:
            problems.append(f"{table}: gone")
        elif table in ALLOWED_TO_GROW:
            lost = before["ids"][table] - after["ids"][table]
            if lost:
                problems.append(f"{table}: rows {sorted(lost)} gone")
        elif table in AUDITED_BY_DATA_MIGRATIONS:
            lost = before["grown"][table] - after["grown"][table]
            if lost:
                problems.append(f"{table}: rows {sorted(lost, key=str)} gone")
        elif now != count:
            problems.append(f"{table}: {count} rows before, {now} after")
    for table, digest in before["digests"].items():
        if after["digests"][table] != digest:
            problems.append(f"{table}: rows changed ({after['digests'][table]})")
    for table, count in before["triggers"].items():
        now = after["triggers"].get(table, 0)
        if now < count:
            problems.append(f"{table}: {count} triggers before, {now} after")
    assert not problems, "The migration changed what the database holds:\n" + "\n".join(problems)

    output = _manage(url, "-m", "tests.migrations.test_migrate_forward")
    validity = json.loads(output.strip().splitlines()[-1])
    changed = [
        f"signature {s['id']} ({s['meaning']} of {s['record_type']} {s['record_id']}): "
        f"{_shown(s['valid'])} with the fixture's code, {_shown(validity.get(str(s['id'])))} now"
        for s in fixture["signatures"]
        if validity.get(str(s["id"])) != s["valid"]
    ]
    assert not changed, "Signatures changed validity:\n" + "\n".join(changed)
    assert set(validity) == {str(s["id"]) for s in fixture["signatures"]}


def _shown(valid: bool | None) -> str:
    return {True: "valid", False: "invalid", None: "shown on no record"}[valid]


if __name__ == "__main__":
    # `python -m tests.migrations.test_migrate_forward`: signature_validity() of the database
    # DATABASE_URL names, as JSON (the test and make_fixture.py run it in a subprocess).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lims.settings")
    import django

    django.setup()
    print(json.dumps(signature_validity(), sort_keys=True))
