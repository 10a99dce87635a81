"""Building blocks shared by the list and detail pages of every app.

A list page is a django-filter FilterView with whitelisted sorting and pagination; the
columns it shows are declared by the view, so one template serves every list.
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.generic import DetailView, FormView
from django_filters.views import FilterView

from lims import file_store
from lims.audit_pages import history_of
from lims.audit_trail import events_of, model_label, parts_of
from lims.pagination import CURSOR_PARAMS, ListPaginator
from lims.roles import can_record_production, can_view_records


class PredicateRequiredMixin(LoginRequiredMixin, UserPassesTestMixin):
    """Allow a view only to users for whom `predicate(user)` holds (403 otherwise)."""

    predicate = staticmethod(can_view_records)
    raise_exception = False

    def test_func(self):
        return self.predicate(self.request.user)

    def handle_no_permission(self):
        if self.request.user.is_authenticated:
            raise PermissionDenied("Your role does not allow this.")
        return super().handle_no_permission()


class ViewRecordsMixin(PredicateRequiredMixin):
    predicate = staticmethod(can_view_records)


class RecordProductionMixin(PredicateRequiredMixin):
    predicate = staticmethod(can_record_production)


class RecordListView(ViewRecordsMixin, FilterView):
    """A filtered, sortable, paginated list. Subclasses set model, filterset_class and columns.

    `columns` is a list of (heading, attribute path, sort field or None).
    """

    template_name = "records/list.html"
    paginate_by = 25
    paginator_class = ListPaginator  # any page costs what the first does (lims.pagination)
    columns: list[tuple[str, str, str | None]] = []
    default_sort = "-created_at"
    title = ""
    create_url_name: str | None = None
    select_related: tuple[str, ...] = ()

    def sort_key(self) -> str:
        wanted = self.request.GET.get("sort", "")
        allowed = {s for _, _, s in self.columns if s}
        if wanted.lstrip("-") in allowed:
            return wanted
        return self.default_sort

    def annotate(self, qs):
        """Computed columns (counts…), added before the ordering that may sort by them."""
        return qs

    def get_queryset(self):
        qs = super().get_queryset()
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        return self.annotate(qs).order_by(self.sort_key(), "pk")

    def get_paginator(self, *args, **kwargs):
        paginator = super().get_paginator(*args, **kwargs)
        for direction in CURSOR_PARAMS:
            if self.request.GET.get(direction):
                paginator.cursor = (direction, self.request.GET[direction])
        return paginator

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET.copy()
        for name in ("page", "sort", *CURSOR_PARAMS):
            params.pop(name, None)
        context.update(
            title=self.title or self.model._meta.verbose_name_plural.capitalize(),
            columns=self.columns,
            sort=self.sort_key(),
            query_without_sort=params.urlencode(),
            create_url_name=self.create_url_name,
        )
        return context


def original_unavailable(request, exc, *, what: str, sha256: str, back_url: str):
    """The page answered instead of an original the file store cannot give back (missing, or
    its bytes no longer match their SHA-256): 409, saying so, never other bytes and never a
    500 (ALCOA+ original; EU GMP Annex 11 §7.1: data checked for accessibility and integrity)."""
    if isinstance(exc, file_store.OriginalMissing):
        problem = "It is missing from the file store."
    else:
        problem = "The stored bytes no longer match the SHA-256 recorded when it was received."
    context = {"what": what, "problem": problem, "sha256": sha256, "back_url": back_url}
    return render(request, "records/original_unavailable.html", context, status=409)


def add_service_errors(form, exc) -> None:
    """Show a service's ValidationError on the form: next to the field it names, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class RecordDetailView(ViewRecordsMixin, DetailView):
    """A record with its audit trail; subclasses add what belongs on its page."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        parts = parts_of(self.object)
        if parts:
            # A lot or batch: one history with its parts, runs and results (newest first).
            events, truncated = history_of(self.object)
            context.update(
                audit_events=events,
                audit_combined=parts,
                audit_truncated=truncated,
                audit_model_label=model_label(self.object),
            )
        else:
            context["audit_events"] = events_of(self.object)
        context["model_name"] = self.model._meta.model_name
        return context


class ServiceFormView(RecordProductionMixin, FormView):
    """A form whose valid data is handed to one service; service refusals show on the form."""

    template_name = "records/form.html"
    title = ""

    # A view whose form maps one to one onto a service's arguments names the service only.
    service = None

    def perform(self, form):
        return type(self).service(actor=self.request.user, **form.cleaned_data)

    def form_valid(self, form):
        try:
            with transaction.atomic():
                self.result = self.perform(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message())
        return redirect(self.get_success_url())

    def success_message(self) -> str:
        return f"{self.result} recorded."

    def get_success_url(self):
        return self.result.get_absolute_url()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["title"] = self.title
        return context
