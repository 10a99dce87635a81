# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test venv lint clean-db

venv: $(BIN)/.installed

$(BIN)/.installed: requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	touch $@

# runserver without its autoreloader: one process holds the embedded PostgreSQL and stops it on
# exit (the reloader's parent and child, stopped together, each saw the other still alive).
# This is a quick start, not a development loop. Migrations run as the embedded server's owner,
# the demo and the server as the app role they create (lims/db_roles.py). DEBUG is off unless
# explicitly on (without it the settings want production secrets): the quick start turns it on.
run: export DEBUG = True
run: venv
	DATABASE_APP_ROLE=lims_app $(BIN)/python manage.py migrate --noinput
	EMBEDDED_DATABASE_ROLE=lims_app $(BIN)/python manage.py seed_demo
	@echo "Serving http://127.0.0.1:8000 (Ctrl-C stops it)"
	EMBEDDED_DATABASE_ROLE=lims_app $(BIN)/python manage.py runserver --noreload 127.0.0.1:8000

# Two workers (pytest-xdist; each file stays on one worker) on copies of a reusable, migrated
# test database (tests/conftest.py). Browser, real-worker and benchmark tests want the machine to
# themselves: .ci/run runs them after this, one at a time. The test settings (tests/settings.py)
# turn DEBUG on for the development defaults; pytest-django runs each test with it off.
test: venv
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not browser and not celery_worker and not benchmark and not serial"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
