"""Make the fixture of the migrate-forward test: a demo database built by this commit's code.

The test (tests/migrations/test_migrate_forward.py) restores the dump into a scratch database,
migrates it with the code under test and checks that nothing recorded changed. Regenerate the
fixture only on a commit whose database you want later migrations to be tested against (the
commit that is in production), from a clean checkout, with PostgreSQL's pg_dump on PATH (the
test itself needs neither pg_dump nor psql):

    createdb -h 127.0.0.1 -U postgres lims_mig_src       # an empty database
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lims_mig_src \\
        .venv/bin/python -m tests.migrations.make_fixture
    dropdb -h 127.0.0.1 -U postgres lims_mig_src

then point FIXTURE in the test at the new file and commit both files. What it does:

1. `manage.py migrate` and `manage.py seed_demo`, as `make run` does.
2. Signs what the demo leaves for QA to sign, through the services the signing pages call,
   because the demo data has no signature and the test is about signatures: the OOS deviation
   is investigated, given a CAPA action and closed (closure signature), its lot rejected, the
   passing lot released (disposition signature and certificate of analysis), the third lot
   quarantined, and a version 2 of both specifications drafted and approved. Then a limit of
   the approved drug-substance version 2 is changed behind the application's back, so its
   approval signature shows invalid and the fixture holds both answers. (The quarantine's
   signature shows invalid too, by today's code itself: the lot had no specification fixed
   yet, and the disposition fixes one just after signing.)
3. `pg_dump --no-owner --no-privileges` in plain SQL (COPY blocks), gzipped:
   tests/data/migrations/demo-<commit>.sql.gz. The test loads it through psycopg
   (tests/migrations/database.py: restore), on PostgreSQL 15 or 16.
4. The sidecar demo-<commit>.json: every signature's id, record type and id, meaning and
   validity computed by this commit's code (the test module's signature_validity, run as
   `python -m tests.migrations.test_migrate_forward`), every table's row count and a digest of
   every audit table and of the signatures.
5. Restores the dump into a scratch database `<source>_roundtrip` and checks it against the
   sidecar, then drops it.
"""

import gzip
import json
import logging
import os
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import environ

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "migrations"
sys.path.insert(0, str(ROOT))

from tests.migrations import database  # noqa: E402

SIGNER = ("qa", "qa-demo-password-2026")  # lims/demo.py DEMO_USERS
PG_FLAGS = {"host": "host", "port": "port", "user": "username"}


def run(*args, env):
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, env=env, check=True)


def commit() -> str:
    git = ["git", "-C", str(ROOT)]
    changed = subprocess.run(
        [*git, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!tests"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if changed:
        sys.exit(f"The application code has uncommitted changes:\n{changed}")
    return subprocess.run(
        [*git, "rev-parse", "--short=7", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def sign_what_the_demo_leaves():
    """Step 2, inside this process (Django set up on DATABASE_URL)."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory
    from django.utils import timezone

    from assays.models import Criterion, Specification
    from assays.specifications import specification_approve, specification_draft_create
    from batches import release
    from batches.models import Deviation, ExosomeLot
    from lims.audit import audit_context
    from lims.models import User

    username, password = SIGNER
    qa = User.objects.get(username=username)

    def request():
        r = RequestFactory().post("/")
        r.user = qa
        r.session = SessionStore()
        return r

    credentials = {"username": username, "password": password}
    today = timezone.localdate()

    deviation = Deviation.objects.get(kind="oos")
    release.deviation_investigate(
        actor=qa,
        deviation=deviation,
        root_cause="Bead standard loaded instead of the lot sample (NTA-01 sample log).",
        impact_assessment="The lot's particle concentration is below specification on retest.",
    )
    action = release.capa_add(
        actor=qa,
        deviation=deviation,
        description="Barcode check of the sample before each NTA capture.",
        owner="QC supervisor",
        due_on=today + timedelta(days=14),
    )
    release.capa_done(actor=qa, action=action, done_on=today)
    release.deviation_close(
        request=request(),
        deviation=deviation,
        outcome=Deviation.Outcome.OOS_CONFIRMED,
        comment="OOS confirmed.",
        **credentials,
    )
    release.lot_dispose(
        request=request(),
        lot=deviation.lot,
        decision="rejected",
        reason=f"OOS confirmed by {deviation.code}.",
        **credentials,
    )
    ready = ExosomeLot.objects.get(status="under_review")
    release.lot_dispose(request=request(), lot=ready, decision="released", **credentials)
    waiting = ExosomeLot.objects.get(status="in_process")
    release.lot_dispose(
        request=request(),
        lot=waiting,
        decision="quarantined",
        reason="Freezer excursion under assessment.",
        **credentials,
    )

    for product in (Specification.Product.SOURCE_CELLS, Specification.Product.DRUG_SUBSTANCE):
        draft = specification_draft_create(actor=qa, product=product)
        approved = specification_approve(request=request(), specification=draft, **credentials)
    # The drug-substance version 2's endotoxin limit is changed behind the application's back
    # (criterion_save refuses it): its approval signature shows invalid from now on.
    with audit_context(actor=qa, reason="Limit changed after approval (fixture: tampering)"):
        changed = Criterion.objects.filter(
            specification=approved, metric_code="endotoxin.eu_per_ml"
        ).update(upper=5.0)
    assert changed == 1


def snapshot(params: dict, name: str) -> dict:
    with database.connect(params, name, autocommit=True) as conn:
        counts = database.row_counts(conn)
        audit = database.audit_tables(conn)
        digests = {
            table: database.table_digest(conn, table, database.columns_of(conn, table))
            for table in [*audit, "lims_signature"]
        }
        signatures = conn.execute(
            "SELECT id, record_type, record_id, meaning FROM lims_signature ORDER BY id"
        ).fetchall()
    return {
        "row_counts": counts,
        "audit": {
            "tables": audit,
            "events": sum(counts[t] for t in audit if t != "pghistory_context"),
            "contexts": counts["pghistory_context"],
        },
        "digests": digests,
        "signatures": signatures,
    }


def main():
    url = os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("Set DATABASE_URL to an empty database (see the docstring).")
    settings_dict = environ.Env.db_url_config(url)
    params, name = database.server_params(settings_dict), settings_dict["NAME"]
    with database.connect(params, name) as conn:
        if conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]:
            sys.exit(f"Database {name} is not empty: make the fixture from an empty one.")
    sha = commit()
    files = tempfile.mkdtemp(prefix="lims-fixture-files-")
    env = {**os.environ, "FILE_STORE": files, "CELERY_BROKER_URL": "", "DEBUG": "True"}

    run(sys.executable, "manage.py", "migrate", "--noinput", env=env)
    run(sys.executable, "manage.py", "seed_demo", env=env)

    os.environ.update(FILE_STORE=files, CELERY_BROKER_URL="", DEBUG="True")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lims.settings")
    import django

    django.setup()
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # the CoA's PDF, at length
    sign_what_the_demo_leaves()
    from django.db import connections

    connections.close_all()

    OUT.mkdir(parents=True, exist_ok=True)
    dump = OUT / f"demo-{sha}.sql.gz"
    sidecar = dump.with_name(f"demo-{sha}.json")
    print(f"+ pg_dump > {dump.relative_to(ROOT)}", flush=True)
    pg_env = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    text = subprocess.run(
        [
            "pg_dump",
            "--no-owner",
            "--no-privileges",
            "--format=plain",
            "--encoding=UTF8",
            *[f"--{flag}={params[key]}" for key, flag in PG_FLAGS.items() if key in params],
            name,
        ],
        env=pg_env,
        capture_output=True,
        check=True,
    ).stdout
    with gzip.GzipFile(dump, "wb", compresslevel=9, mtime=0) as fh:
        fh.write(text)

    state = snapshot(params, name)
    output = subprocess.run(
        [sys.executable, "-m", "tests.migrations.test_migrate_forward"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    validity = json.loads(output.strip().splitlines()[-1])
    described = {
        "made_by": "tests/migrations/make_fixture.py",
        "commit": sha,
        "dump": dump.name,
        "signatures": [
            {
                "id": pk,
                "record_type": record_type,
                "record_id": record_id,
                "meaning": meaning,
                "valid": validity[str(pk)],
            }
            for pk, record_type, record_id, meaning in state["signatures"]
        ],
        "row_counts": state["row_counts"],
        "audit": state["audit"],
        "digests": state["digests"],
    }
    sidecar.write_text(json.dumps(described, indent=1) + "\n")

    roundtrip = f"{name}_roundtrip"
    database.create_database(params, roundtrip)
    try:
        database.restore(params, roundtrip, dump)
        again = snapshot(params, roundtrip)
    finally:
        database.drop_database(params, roundtrip)
    assert again["row_counts"] == state["row_counts"], "the dump does not restore every row"
    assert again["digests"] == state["digests"], "the dump does not restore the audit trail"
    print(
        f"{dump.relative_to(ROOT)}: {dump.stat().st_size} bytes, "
        f"{sum(state['row_counts'].values())} rows, {state['audit']['events']} audit events, "
        f"{len(described['signatures'])} signatures "
        f"({sum(not s['valid'] for s in described['signatures'])} invalid)"
    )


if __name__ == "__main__":
    main()
