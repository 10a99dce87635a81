"""A GET never writes (pages and API): every page reachable on the demo data, as each role, and
every GET endpoint of the OpenAPI document, under a query wrapper that fails the test on any
INSERT, UPDATE or DELETE outside the session and lockout tables.

Pages are found by following the links of the pages themselves (from the home page, the lists
and the release dashboard), so a new page is covered as soon as something links to it; the
htmx fragments no link names are listed in EXTRA_PAGES.
"""

import re
from contextlib import contextmanager
from urllib.parse import urljoin, urlsplit

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from assays import services as assay_services
from assays.models import Instrument
from lims.models import User
from release.demo import DEMO_USERS

pytestmark = pytest.mark.django_db

# Tables a read may write: the session (django.contrib.sessions saves it when it changes) and
# django-axes' record of sign-ins.
MAY_WRITE = ("django_session", "axes_")
WRITE = re.compile(
    r"^\s*(?:WITH\b.*?\)\s*)?(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I | re.S
)
LINK = re.compile(r'(?:href|hx-get)="(/[^"#]*)"')
# Not pages to crawl: sign-out is a POST, the admin is for staff, downloads are checked below.
SKIP = re.compile(r"^/(?:accounts/logout|admin/|static/|api/docs)")
EXTRA_PAGES = ["/release/board/", "/audit/export.csv"]
PAGES_PER_ROUTE = 2  # two records of each kind of page are enough to see what a page does


class WriteOnRead(AssertionError):
    pass


@contextmanager
def refuse_writes(where: str):
    seen: list[str] = []

    def guard(execute, sql, params, many, context):
        found = WRITE.match(sql)
        if found and not found.group(2).lower().startswith(MAY_WRITE):
            seen.append(f"{where}: {sql[:200]}")
            raise WriteOnRead(seen[-1])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(guard):
        yield seen


@pytest.fixture
def demo(django_capture_on_commit_callbacks):
    """The demo data with its evaluations done, as `make run` leaves them."""
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=open("/dev/null", "w"))
    return {role: User.objects.get(username=username) for username, role, _, _ in DEMO_USERS}


def _route(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/{n}", re.sub(r"/[0-9a-f-]{36}(?=/|$)", "/{uuid}", path))


def crawl(client, who: str) -> list[str]:
    queue = ["/", "/release/", *EXTRA_PAGES]
    seen_paths: set[str] = set()
    per_route: dict[str, int] = {}
    visited = []
    while queue:
        path = queue.pop(0)
        if path in seen_paths or SKIP.match(path):
            continue
        seen_paths.add(path)
        route = _route(urlsplit(path).path)
        if per_route.get(route, 0) >= PAGES_PER_ROUTE:
            continue
        per_route[route] = per_route.get(route, 0) + 1
        with refuse_writes(f"{who} GET {path}"):
            response = client.get(path)
        visited.append(path)
        assert response.status_code in (200, 302, 403, 404), (who, path, response.status_code)
        if response.get("Content-Type", "").startswith("text/html"):
            for link in LINK.findall(response.content.decode()):
                target = urljoin(path, link.replace("&amp;", "&"))
                if target not in seen_paths:
                    queue.append(target)
    return visited


@pytest.mark.parametrize("role", ["technician", "analyst", "qa", "admin"])
def test_no_page_writes_when_it_is_only_looked_at(demo, client, role):
    client.force_login(demo[role])
    visited = crawl(client, role)
    routes = {_route(urlsplit(p).path) for p in visited}
    # The walk reaches the pages that wrote before: the dashboard, a lot's review page and
    # its certificate, the specification pages.
    for expected in ("/release/", "/release/lots/{n}/review/", "/release/specifications/"):
        assert expected in routes or role not in ("qa", "analyst"), (role, sorted(routes))
    assert len(routes) > 30, sorted(routes)


def _fill(path: str, ids: dict[str, list]) -> str | None:
    """A concrete path for a templated one: the ids come from the list endpoint before the
    first parameter (/api/v1/runs/{id}/ takes the first run of /api/v1/runs/)."""
    head = path.split("{", 1)[0]
    values = ids.get(head)
    if not values:
        return None
    return re.sub(r"\{[^}]+\}", str(values[0]), path, count=1) if "{" in path else path


def test_no_api_endpoint_writes_when_it_is_only_read(demo, client):
    instrument = Instrument.objects.get(code="NTA-01")
    _, key = assay_services.instrument_key_issue(actor=demo["admin"], instrument=instrument)
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    person = Client()
    person.force_login(demo["qa"])

    def read(path):
        """With the key; release records, which a key does not read, as a signed-in person."""
        response = client.get(path, **headers)
        if response.status_code == 403 and response.json()["code"] == "person_required":
            response = person.get(path)
        return response

    schema = client.get("/api/schema/", **headers).json()
    get_paths = sorted(p for p, ops in schema["paths"].items() if "get" in ops)
    assert any("{" in p for p in get_paths)
    ids: dict[str, list] = {}
    for path in [p for p in get_paths if "{" not in p]:
        with refuse_writes(f"API GET {path}"):
            response = read(path)
        assert response.status_code == 200, (path, response.content[:300])
        body = response.json()
        rows = body.get("results", body) if isinstance(body, dict) else body
        if isinstance(rows, list):
            ids[path] = [row["id"] for row in rows if isinstance(row, dict) and "id" in row]
    ids.setdefault("/api/v1/lots/", []).sort()
    for path in [p for p in get_paths if "{" in p]:
        concrete = _fill(path, ids)
        if concrete is None:
            concrete = _fill(path, {path.split("{", 1)[0]: ids["/api/v1/lots/"]})
        with refuse_writes(f"API GET {concrete}"):
            response = read(concrete)
        assert response.status_code in (200, 404), (concrete, response.content[:300])


def test_the_guard_sees_a_write(demo, client):
    """The wrapper itself bites: a GET that writes (here a sign-in's last_login) is caught."""
    with pytest.raises(WriteOnRead), refuse_writes("a write"):
        User.objects.filter(pk=demo["qa"].pk).update(first_name="Changed")
    assert reverse("home") == "/"
