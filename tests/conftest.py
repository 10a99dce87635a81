"""Shared fixtures: one persona per role (STYLE.md: tests read like the behaviour).

Imports of Django models stay inside fixtures so the pure test packages (tests/parsers,
tests/qc) also run without a database.
"""

import ast
import contextlib
import functools
import hashlib
import importlib.util
import os
import signal
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
BENCHMARKS = TESTS / "benchmarks"
# Real races between threads, each round a lot released with its certificate: minutes of CPU
# that want the machine to themselves.
SERIAL_FILES = {TESTS / "release" / "test_disposition_race.py"}


def _uses_database(item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return item.get_closest_marker("django_db") is not None or bool(
        {"db", "transactional_db", "live_server"} & set(fixtures)
    )


def pytest_itemcollected(item):
    """Mark what `make test` (parallel workers) leaves to .ci/run's serial pass: everything
    under tests/benchmarks (timings against a baseline of the same run) and the race tests.
    Marked as each test is collected, so that `-m` (applied when collection ends) sees it."""
    path = Path(item.path).resolve()
    if BENCHMARKS in path.parents:
        item.add_marker(pytest.mark.benchmark)
    db = item.get_closest_marker("django_db")
    if path in SERIAL_FILES and db is not None and db.kwargs.get("transaction"):
        item.add_marker(pytest.mark.serial)


@pytest.hookimpl(trylast=True)  # after pytest-django's own ordering, which it keeps
def pytest_collection_modifyitems(config, items):
    """Tests without a database go first: on a first run they keep the workers busy while the
    test database template is migrated (see pytest_sessionstart)."""
    items.sort(key=_uses_database)


# ------------------------------------------------------------------------- the test database
#
# Migrating a new database takes minutes, nearly all of it in Django re-rendering the migration
# state after each of some 200 AddField and 230 pgtrigger AddTrigger operations. So it is done
# once, into a template database whose name carries a hash of everything that decides its
# content (_template_key), and each test process (every xdist worker) starts from a copy made by
# PostgreSQL with CREATE DATABASE ... TEMPLATE, which takes a second. The template is kept for
# the next run; a changed migration, data-migration helper or installed package gives a new
# hash, hence a new template (the old one is dropped); a copy that still has a migration to
# apply is rebuilt too. `pytest --create-db` rebuilds it anyway.

_TEMPLATE_FORMAT = "3"  # bump when the way the template is built changes


def _project_module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_project_files(start: list[Path]) -> set[Path]:
    """The project's modules that `start` imports, transitively (models excepted: the schema
    they describe is in the migrations, which `makemigrations --check` keeps in step)."""
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    seen: set[Path] = set()
    todo = list(start)
    while todo:
        tree = ast.parse(todo.pop().read_bytes())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] not in packages or "models" in parts or "migrations" in parts:
                    continue
                file = _project_module_file(name)
                if file is not None and file not in seen:
                    seen.add(file)
                    todo.append(file)
    return seen


def _template_key(use_migrations: bool) -> str:
    """A hash of what a freshly migrated database depends on: every installed app's migration
    files, the project code those migrations import (catalogue, roles, default
    specifications...), and the installed packages with their versions."""
    from django.apps import apps
    from django.conf import settings
    from django.db.migrations.loader import MigrationLoader

    digest = hashlib.sha256(f"{_TEMPLATE_FORMAT} {use_migrations}".encode())
    project_migrations = []
    for app in apps.get_app_configs():
        module, _ = MigrationLoader.migrations_module(app.label)
        spec = importlib.util.find_spec(module) if module else None
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(next(iter(spec.submodule_search_locations)))
        for file in sorted(folder.glob("*.py")):
            digest.update(f"\0{app.label}/{file.name}\0".encode() + file.read_bytes())
            if ROOT in file.parents:
                project_migrations.append(file)
    for file in sorted(_imported_project_files(project_migrations)):
        digest.update(f"\0{file.relative_to(ROOT)}\0".encode() + file.read_bytes())
    digest.update(repr(settings.INSTALLED_APPS).encode())
    for entry in sys.path:  # installed distributions and their versions
        folder = Path(entry or ".")
        if folder.is_dir() and folder.name == "site-packages":
            digest.update(repr(sorted(p.name for p in folder.glob("*.dist-info"))).encode())
    return digest.hexdigest()[:12]


def _template_names(connection, use_migrations: bool = True) -> tuple[str, str]:
    """(prefix shared by this database's templates, the template for the code as it is)."""
    base = f"test_{connection.settings_dict['NAME']}"[:40]
    return base, f"{base}_tpl_{_template_key(use_migrations)}"


@contextlib.contextmanager
def _template_lock(connection, base: str):
    """One process at a time (workers, other runs on this server) builds or copies."""
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [base])
        yield cursor  # the lock goes with this connection


@contextlib.contextmanager
def _no_test_timeout():
    """pytest-timeout's alarm (signal method) is for the test, not for waiting for the
    template: pause it meanwhile and give the test its remaining time afterwards."""
    remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if remaining:
            signal.setitimer(signal.ITIMER_REAL, remaining)


def _database_names(cursor, pattern: str) -> list[str]:
    cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])
    return [name for (name,) in cursor.fetchall()]


def _database_exists(cursor, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return cursor.fetchone() is not None


def _drop_database(cursor, name: str, *, force: bool = False) -> None:
    """Drop a database; `force` ends its connections first (only for this run's own copy)."""
    q = cursor.db.ops.quote_name
    if _database_exists(cursor, name):
        cursor.execute(f"ALTER DATABASE {q(name)} WITH IS_TEMPLATE false")
        cursor.execute(f"DROP DATABASE {q(name)}{' WITH (FORCE)' if force else ''}")


def _ensure_template(connection, base: str, template: str, *, rebuild: bool, verbosity: int):
    """Migrate a new database into `template` unless it exists (or `rebuild`), and drop the
    templates of other versions of the code."""
    from django.conf import settings

    with _template_lock(connection, base) as cursor:
        if _database_exists(cursor, template) and not rebuild:
            return
        print(
            f"\nMigrating the test database template {template} (minutes; later runs copy it)",
            file=sys.__stderr__,
            flush=True,
        )
        building = f"{template}_new"
        saved_name, saved_test = connection.settings_dict["NAME"], connection.settings_dict["TEST"]
        connection.settings_dict["TEST"] = {**saved_test, "NAME": building}
        try:
            connection.creation.create_test_db(
                verbosity=verbosity, autoclobber=True, serialize=False, keepdb=False
            )
        finally:
            connection.close()
            connection.settings_dict["TEST"] = saved_test
            connection.settings_dict["NAME"] = saved_name
            settings.DATABASES[connection.alias]["NAME"] = saved_name
        for stale in _database_names(cursor, f"{base}\\_tpl\\_%"):
            if stale != building:
                _drop_database(cursor, stale)
        q = connection.ops.quote_name
        cursor.execute(f"ALTER DATABASE {q(building)} RENAME TO {q(template)}")
        # A template nobody connects to: CREATE DATABASE ... TEMPLATE refuses a busy source.
        cursor.execute(
            f"ALTER DATABASE {q(template)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
        )


def _copy_template(connection, base: str, template: str, test_name: str) -> bool:
    """Make `test_name` a copy of the template and point the connection at it; False when
    the copy has migrations left to apply (a stale template)."""
    from django.conf import settings
    from django.db.migrations.executor import MigrationExecutor

    q = connection.ops.quote_name
    with _template_lock(connection, base) as cursor:
        _drop_database(cursor, test_name)
        cursor.execute(f"CREATE DATABASE {q(test_name)} TEMPLATE {q(template)}")
    connection.close()
    connection.settings_dict["NAME"] = test_name
    settings.DATABASES[connection.alias]["NAME"] = test_name
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    connection.close()
    return not pending


def build_template_in_background() -> None:
    """`python -c "from tests.conftest import build_template_in_background as b; b()"`: what
    the controller of a parallel run starts at once (pytest_sessionstart)."""
    import django

    django.setup()
    from django.db import connection

    base, template = _template_names(connection)
    _ensure_template(connection, base, template, rebuild=False, verbosity=0)


_background_build: list = []


def pytest_sessionstart(session):
    """In the controller of a parallel run (`pytest -n 2`), get the template ready in a process
    of its own while the workers start and run the tests that need no database."""
    config = session.config
    parallel = getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput")
    if not parallel or not config.pluginmanager.hasplugin("django"):
        return
    if config.getvalue("create_db") or config.getvalue("nomigrations"):
        return  # the workers rebuild it, or need none
    import subprocess

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE")}
    if not env["DJANGO_SETTINGS_MODULE"]:
        env["DJANGO_SETTINGS_MODULE"] = config.getini("DJANGO_SETTINGS_MODULE")
    code = "import pytest; from tests.conftest import build_template_in_background as b; b()"
    _background_build.append(
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    )


def pytest_sessionfinish(session):
    for process in _background_build:  # a short run may end before the template is ready
        if process.poll() is None:
            process.terminate()
        process.wait(30)


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_use_migrations,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """pytest-django's fixture, with the test database copied from a reusable template."""
    from django.conf import settings
    from django.db import connections

    if not django_db_use_migrations:
        from pytest_django.fixtures import _disable_migrations

        _disable_migrations()
    assert list(connections) == ["default"], "one database is all this project configures"
    connection = connections["default"]
    original_name = connection.settings_dict["NAME"]
    test_name = connection.creation._get_test_db_name()  # with the xdist worker's suffix
    verbosity = request.config.option.verbose
    with django_db_blocker.unblock(), _no_test_timeout():
        base, template = _template_names(connection, django_db_use_migrations)
        rebuild = django_db_createdb
        for _attempt in range(2):
            _ensure_template(connection, base, template, rebuild=rebuild, verbosity=verbosity)
            if _copy_template(connection, base, template, test_name):
                break
            rebuild = True  # never a stale schema
        else:
            raise RuntimeError(f"{template} still has migrations to apply after a rebuild")
    yield
    with django_db_blocker.unblock():
        connection.close()
        connection.settings_dict["NAME"] = original_name
        settings.DATABASES[connection.alias]["NAME"] = original_name
        with connection._nodb_cursor() as cursor:
            _drop_database(cursor, test_name, force=True)


# The modules whose functions install data in migrations (RunPython): the catalogue, the default
# specifications, the role groups; put back in this order after a flush.
INSTALLATION_MODULES = ("assays.catalogue", "release.default_specifications", "lims.roles")


@functools.cache
def installation_data_steps() -> list:
    """Every data step the migrations run from INSTALLATION_MODULES, in migration order within
    each module, once each: read from the migration graph, so a new data migration is put back
    after a flush without being listed here by hand (one was missed: POTENCY-MAC's layout)."""
    from django.db import migrations
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    steps: list = []
    for leaf in sorted(graph.leaf_nodes()):
        for node in graph.forwards_plan(leaf):
            for operation in graph.nodes[node].operations:
                code = getattr(operation, "code", None)
                if (
                    isinstance(operation, migrations.RunPython)
                    and code.__module__ in INSTALLATION_MODULES
                    and code not in steps
                ):
                    steps.append(code)
    return sorted(steps, key=lambda step: INSTALLATION_MODULES.index(step.__module__))


@pytest.fixture(scope="session", autouse=True)
def _flush_keeps_the_installation_data():
    """Transactional tests (threads, live server, real workers) end with a flush of every table.

    Two things of this project need help there: the audit tables refuse TRUNCATE (that is their
    point), so the flush runs with pgtrigger's triggers ignored in its own connection; and the
    data that migrations install (role groups, the system account, the assay catalogue) is put
    back after it, as a fresh installation has it.
    """
    from django.core.management.commands import flush

    original = flush.Command.handle

    def handle(self, *args, **options):
        import pgtrigger
        from django.apps import apps

        with pgtrigger.ignore():
            result = original(self, *args, **options)
        for step in installation_data_steps():
            step(apps)
        return result

    flush.Command.handle = handle
    yield
    flush.Command.handle = original


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing_everywhere(request):
    """Every persona gets a password, and PBKDF2's million rounds cost about a second each on
    the 2-core machine: hash with MD5 in every test (the hashing algorithm is not under test).
    The folders that already did this for themselves keep their own fixture."""
    if not request.config.pluginmanager.hasplugin("django"):  # `pytest tests/qc -p no:django`
        yield
        return
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    """Unit and page tests run tasks in-process; tests marked celery_worker use a real worker."""
    from lims.celery import app

    app.conf.task_always_eager = True
    yield


@pytest.fixture
def make_user(db):
    from tests.factories import UserFactory

    def make(role: str | None, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def technician(make_user):
    return make_user("technician", username="tess.tech", first_name="Tess", last_name="Tech")


@pytest.fixture
def analyst(make_user):
    return make_user("analyst", username="alan.analyst", first_name="Alan", last_name="Analyst")


@pytest.fixture
def qa_user(make_user):
    return make_user("qa", username="quinn.qa", first_name="Quinn", last_name="QA")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", username="ada.admin", first_name="Ada", last_name="Admin")


@pytest.fixture
def personas(technician, analyst, qa_user, admin_user):
    return {"technician": technician, "analyst": analyst, "qa": qa_user, "admin": admin_user}
