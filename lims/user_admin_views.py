"""Pages of user administration (lims.user_admin): the list of people, a person's page with the
administrator's acts, and the creation of a person. Administrators only; everyone else gets 403
on every page and every POST.

A temporary password (a new person's, or a reset's) is shown in the response to the POST that
made it, and nowhere else: it is not put in the session or a message, so it is never stored in
clear, and the page is not cached (lims.security.NoStoreForSignedIn)."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views import View
from django.views.generic import ListView

from lims import user_admin
from lims.forms import BootstrapMixin, CheckboxList
from lims.models import User
from lims.pages import PredicateRequiredMixin, add_service_errors
from lims.roles import ROLES, can_administer_users
from lims.signin import held_locks

ROLE_CHOICES = [(role, user_admin.ROLE_LABELS[role]) for role in ROLES]
REASON_HELP = "Why (kept in the audit trail with the change)."


def _reason_field(label="Reason"):
    return forms.CharField(
        label=label, widget=forms.Textarea(attrs={"rows": 2}), help_text=REASON_HELP
    )


# --- Forms ------------------------------------------------------------------------------------


class UserFilterForm(BootstrapMixin, forms.Form):
    role = forms.ChoiceField(label="Role", required=False, choices=[("", "Any"), *ROLE_CHOICES])
    active = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any"), ("yes", "Active"), ("no", "Deactivated")],
    )


class UserCreateForm(BootstrapMixin, forms.Form):
    username = forms.CharField(
        label="User ID",
        max_length=150,
        help_text="Unique and never reused. Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    first_name = forms.CharField(label="First name", max_length=150)
    last_name = forms.CharField(label="Last name", max_length=150)
    email = forms.EmailField(label="E-mail", required=False)
    roles = forms.MultipleChoiceField(
        label="Roles",
        choices=ROLE_CHOICES,
        widget=CheckboxList,
        help_text="An administrator holds no other role (segregation of duties).",
    )
    reason = _reason_field()


class RolesForm(BootstrapMixin, forms.Form):
    roles = forms.MultipleChoiceField(label="Roles", choices=ROLE_CHOICES, widget=CheckboxList)
    reason = _reason_field()


class ReasonOnlyForm(BootstrapMixin, forms.Form):
    reason = _reason_field()


# --- The list ---------------------------------------------------------------------------------


class UserListView(PredicateRequiredMixin, ListView):
    """Everyone who signs in, filtered by role and status: roles, active, locked, last sign-in,
    and whether they must change their password; a constant number of queries."""

    predicate = staticmethod(can_administer_users)
    template_name = "users/list.html"
    paginate_by = 50

    def get_queryset(self):
        self.filter_form = UserFilterForm(self.request.GET or None)
        role, active = None, None
        if self.filter_form.is_bound and self.filter_form.is_valid():
            role = self.filter_form.cleaned_data["role"] or None
            active = {"yes": True, "no": False}.get(self.filter_form.cleaned_data["active"])
        return user_admin.user_list(role=role, active=active)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        locked = user_admin.locked_user_ids()
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(
            filter=self.filter_form,
            query=params.urlencode(),
            rows=[
                {
                    "user": user,
                    "roles": [user_admin.ROLE_LABELS[r] for r in user_admin.role_names(user)],
                    "conflict": user_admin.roles_conflict(user_admin.role_names(user)),
                    "locked": user.username in locked,
                }
                for user in context["object_list"]
            ],
        )
        return context


# --- A person's page and the acts on it -------------------------------------------------------


def _person(pk) -> User:
    return get_object_or_404(user_admin.people(), pk=pk)


def _detail_context(request, person, **forms_given):
    roles = user_admin.role_names(person)
    locks = [h for h in held_locks() if h.username == person.username]
    initial_roles = {"roles": roles}
    return {
        "person": person,
        "roles": [user_admin.ROLE_LABELS[r] for r in roles],
        "conflict": user_admin.roles_conflict(roles),
        "locks": locks,
        "locked": any(h.lock in user_admin.ACCOUNT_LOCKS for h in locks),
        "is_self": person.pk == request.user.pk,
        "roles_form": forms_given.get("roles") or RolesForm(initial=initial_roles),
        "deactivate_form": forms_given.get("deactivate") or ReasonOnlyForm(prefix="deactivate"),
        "reactivate_form": forms_given.get("reactivate") or ReasonOnlyForm(prefix="reactivate"),
        "reset_form": forms_given.get("reset") or ReasonOnlyForm(prefix="reset"),
        "unlock_form": forms_given.get("unlock") or ReasonOnlyForm(prefix="unlock"),
        "events": user_admin.history(person),
        "security_log": user_admin.security_log(person),
    }


class UserDetailView(PredicateRequiredMixin, View):
    predicate = staticmethod(can_administer_users)
    http_method_names = ["get"]

    def get(self, request, pk):
        person = _person(pk)
        return render(request, "users/detail.html", _detail_context(request, person))


class _Act(PredicateRequiredMixin, View):
    """A POST that hands the form's data (a reason, perhaps roles) to one service of
    lims.user_admin; a refusal shows on the person's page next to the form that asked (or above
    the forms), and nothing is written."""

    predicate = staticmethod(can_administer_users)
    http_method_names = ["post"]
    form_name = ""  # the form's key in the page's context, and its prefix
    form_class: type[forms.Form] = ReasonOnlyForm
    service: Callable[..., Any]  # lims.user_admin's act: (actor=, user=, **the form's data)
    success = ""  # the message after it, with {username}

    def make_form(self, data):
        if self.form_class is ReasonOnlyForm:
            return ReasonOnlyForm(data, prefix=self.form_name)
        return self.form_class(data)

    def done(self, person, result):
        messages.success(self.request, self.success.format(username=person.username))
        return redirect("users:detail", pk=person.pk)

    def post(self, request, pk):
        person = _person(pk)
        form = self.make_form(request.POST)
        if form.is_valid():
            try:
                result = type(self).service(actor=request.user, user=person, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return self.done(person, result)
        person = _person(pk)  # as it is after the refusal (nothing was written)
        context = _detail_context(request, person, **{self.form_name: form})
        context["failed"] = self.form_name
        context["refusal"] = form.non_field_errors()
        return render(request, "users/detail.html", context)


class RolesChangeView(_Act):
    form_name = "roles"
    form_class = RolesForm
    service = user_admin.roles_change
    success = "The roles of {username} are changed."


class DeactivateView(_Act):
    form_name = "deactivate"
    service = user_admin.user_deactivate
    success = "{username} is deactivated: they can no longer sign in."


class ReactivateView(_Act):
    form_name = "reactivate"
    service = user_admin.user_reactivate
    success = "{username} is active again."


class UnlockView(_Act):
    form_name = "unlock"
    service = user_admin.account_unlock
    success = "{username} is unlocked."


class PasswordResetView(_Act):
    form_name = "reset"
    service = user_admin.password_reset_temporary

    def done(self, person, result):
        # The temporary password, in this response only (see the module's doc).
        return render(
            self.request,
            "users/temporary_password.html",
            {"person": person, "password": result, "created": False},
        )


# --- Creation ---------------------------------------------------------------------------------


class UserCreateView(PredicateRequiredMixin, View):
    predicate = staticmethod(can_administer_users)
    http_method_names = ["get", "post"]

    def get(self, request):
        return render(request, "users/create.html", {"form": UserCreateForm()})

    def post(self, request):
        form = UserCreateForm(request.POST)
        if form.is_valid():
            try:
                created = user_admin.user_create(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return render(
                    request,
                    "users/temporary_password.html",
                    {
                        "person": created.user,
                        "password": created.temporary_password,
                        "created": True,
                    },
                )
        return render(request, "users/create.html", {"form": form})


app_name = "users"
urlpatterns = [
    path("", UserListView.as_view(), name="list"),
    path("new/", UserCreateView.as_view(), name="create"),
    path("<int:pk>/", UserDetailView.as_view(), name="detail"),
    path("<int:pk>/roles/", RolesChangeView.as_view(), name="roles"),
    path("<int:pk>/deactivate/", DeactivateView.as_view(), name="deactivate"),
    path("<int:pk>/reactivate/", ReactivateView.as_view(), name="reactivate"),
    path("<int:pk>/reset-password/", PasswordResetView.as_view(), name="reset_password"),
    path("<int:pk>/unlock/", UnlockView.as_view(), name="unlock"),
]
