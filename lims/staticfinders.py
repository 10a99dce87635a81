"""A staticfiles finder that serves plotly.js from the installed `plotly` Python package.

The `plotly` wheel already ships the minified browser bundle (`plotly/package_data/plotly.min.js`,
several MB), so it is not vendored a second time under `lims/static/vendor/`. This finder exposes
that one file as the static path ``vendor/plotly/plotly.min.js`` to `findstatic`, `collectstatic`,
`runserver` and WhiteNoise alike. Its version is always the one that the Python package (and so
`plotly.io.to_html`) was built against.

Enable it in settings with::

    STATICFILES_FINDERS = [
        "django.contrib.staticfiles.finders.FileSystemFinder",
        "django.contrib.staticfiles.finders.AppDirectoriesFinder",
        "lims.staticfinders.PlotlyFinder",
    ]
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from django.contrib.staticfiles import finders, utils
from django.core.checks import Warning
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor/plotly"
FILENAME = "plotly.min.js"
STATIC_PATH = f"{PREFIX}/{FILENAME}"


def plotly_package_data() -> Path | None:
    """The `plotly/package_data` folder of the installed package, without importing plotly."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "package_data"
        if (folder / FILENAME).is_file():
            return folder
    return None


def _legacy_find_all(find_all=False, **kwargs) -> bool:
    """Accept Django < 6.1's deprecated ``find(path, all=...)`` spelling, as BaseFinder does."""
    if "all" in kwargs:
        legacy_all = kwargs.pop("all")
        warnings.warn(
            "Passing the `all` argument to find() is deprecated. Use `find_all` instead.",
            DeprecationWarning,
            stacklevel=3,
        )
        if find_all is not False:
            raise TypeError("PlotlyFinder.find() got multiple values for argument 'find_all'")
        find_all = legacy_all
    if kwargs:
        raise TypeError(
            f"PlotlyFinder.find() got an unexpected keyword argument '{next(iter(kwargs))}'"
        )
    return find_all


class PlotlyFinder(finders.BaseFinder):
    """Find exactly one file, ``vendor/plotly/plotly.min.js``, in the plotly package's data."""

    def __init__(self, app_names=None, *args, **kwargs):
        self.location = plotly_package_data()
        self.storage = None
        if self.location is not None:
            self.storage = FileSystemStorage(location=os.fspath(self.location))
            # collectstatic and WhiteNoise put a storage's `prefix` in front of listed paths.
            self.storage.prefix = PREFIX
        super().__init__(*args, **kwargs)

    def check(self, **kwargs):
        if self.location is None:
            return [
                Warning(
                    f"PlotlyFinder cannot find plotly/package_data/{FILENAME}; "
                    f"the static file {STATIC_PATH} will be missing.",
                    hint="Install the `plotly` Python package (it is in requirements.lock).",
                    id="lims.W001",
                )
            ]
        return []

    def find(self, path, find_all=False, **kwargs):
        if kwargs:
            find_all = _legacy_find_all(find_all, **kwargs)
        if self.location is None:
            return [] if find_all else None
        if os.fspath(self.location) not in finders.searched_locations:
            finders.searched_locations.append(os.fspath(self.location))
        if path.replace("\\", "/").lstrip("/") == STATIC_PATH:
            match = os.fspath(self.location / FILENAME)
            return [match] if find_all else match
        return [] if find_all else None

    def list(self, ignore_patterns) -> Iterator[tuple[str, FileSystemStorage]]:
        if self.storage is None:
            return
        if ignore_patterns and utils.matches_patterns(FILENAME, ignore_patterns):
            return
        yield FILENAME, self.storage
