"""Pages of sign-in security: the password change page, an administrator's password reset, and
the security review of failed sign-ins, signings and lockouts with the administrator's unlock
(21 CFR 11.300(b), (d); lims.passwords, lims.signin)."""

import csv
import datetime

from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.generic import FormView, ListView

from lims.forms import BootstrapMixin
from lims.models import SecurityEvent, User
from lims.pages import PredicateRequiredMixin
from lims.passwords import password_change, password_change_due, password_reset
from lims.roles import (
    SYSTEM_USERNAME,
    can_reset_passwords,
    can_review_security,
    can_unlock_sign_in,
)
from lims.signin import (
    LOCK_ORDER,
    PASSWORD_CHECK,
    Limits,
    asking_password_for,
    held_locks,
    security_events,
    unlock,
)

# --- Password change --------------------------------------------------------------------------


class PasswordChangeForm(BootstrapMixin, SetPasswordForm):
    """The current password, then the new one twice. The current password is checked through
    authenticate(), so a wrong one counts towards the lockouts like a failed sign-in and a
    hijacked session cannot guess it freely."""

    old_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    field_order = ["old_password", "new_password1", "new_password2"]

    def __init__(self, user, *args, request, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)
        self.fields["new_password1"].help_text = " ".join(password_validators_help_texts())

    def clean_old_password(self):
        old = self.cleaned_data["old_password"]
        asking_password_for(self.request, PASSWORD_CHECK)
        checked = authenticate(self.request, username=self.user.get_username(), password=old)
        if checked is None or checked.pk != self.user.pk:
            if getattr(self.request, "axes_locked_out", False):
                raise ValidationError("This account is locked after repeated failed attempts.")
            raise ValidationError("Your current password is not correct.")
        return old

    def clean(self):
        data = super().clean()
        old, new = data.get("old_password"), data.get("new_password2")
        if old and new and old == new:
            self.add_error("new_password2", "Choose a password different from the current one.")
        return data


class PasswordChangeView(PredicateRequiredMixin, FormView):
    """Any signed-in person changes their own password (audited; lims.passwords)."""

    predicate = staticmethod(lambda user: user.is_authenticated and user.is_active)
    template_name = "registration/password_change_form.html"
    form_class = PasswordChangeForm
    success_url = reverse_lazy("home")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user, "request": self.request}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["due"] = password_change_due(self.request.user)
        return context

    def form_valid(self, form):
        try:
            password_change(user=self.request.user, new_password=form.cleaned_data["new_password1"])
        except ValidationError as exc:
            form.add_error("new_password2", exc)
            return self.form_invalid(form)
        update_session_auth_hash(self.request, self.request.user)
        messages.success(self.request, "Your password has been changed.")
        return super().form_valid(form)


# --- An administrator's reset -----------------------------------------------------------------


class PasswordResetForm(BootstrapMixin, forms.Form):
    user = forms.ModelChoiceField(
        label="User", queryset=User.objects.none(), to_field_name="username"
    )
    new_password = forms.CharField(
        label="Temporary password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Tell it to the person in private; they must replace it at their next request.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the password is reset (kept in the audit trail).",
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (
            User.objects.filter(is_active=True)
            .exclude(username=SYSTEM_USERNAME)
            .exclude(pk=actor.pk)
            .order_by("username")
        )


class PasswordResetView(PredicateRequiredMixin, FormView):
    predicate = staticmethod(can_reset_passwords)
    template_name = "security/password_reset.html"
    form_class = PasswordResetForm
    success_url = reverse_lazy("security_review")

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "actor": self.request.user}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["password_help"] = " ".join(password_validators_help_texts())
        return context

    def form_valid(self, form):
        person = form.cleaned_data["user"]
        try:
            password_reset(
                actor=self.request.user,
                user=person,
                new_password=form.cleaned_data["new_password"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error("new_password", exc)
            return self.form_invalid(form)
        messages.success(
            self.request, f"The password of {person.username} is reset: they must change it."
        )
        return super().form_valid(form)


# --- The security review ----------------------------------------------------------------------


class SecurityFilterForm(BootstrapMixin, forms.Form):
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    kind = forms.MultipleChoiceField(
        label="What",
        required=False,
        choices=SecurityEvent.Kind.choices,
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )


def _filtered_events(request):
    form = SecurityFilterForm(request.GET or None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        return form, security_events(
            since=data["since"], until=data["until"], kinds=data["kind"] or None
        )
    return form, security_events()


class UnlockForm(BootstrapMixin, forms.Form):
    lock = forms.ChoiceField(choices=[(lock.value, lock.label) for lock in LOCK_ORDER])
    username = forms.CharField(required=False)
    ip_address = forms.GenericIPAddressField(required=False)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 1}))


class SecurityReviewView(PredicateRequiredMixin, ListView):
    """Failed sign-ins, signings and password checks, lockouts and unlocks (11.300(d)),
    filtered by date and kind, with the locks that hold now and, for administrators, their
    unlock."""

    predicate = staticmethod(can_review_security)
    template_name = "security/review.html"
    paginate_by = 50

    def get_queryset(self):
        self.filter_form, events = _filtered_events(self.request)
        return events

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET.copy()
        params.pop("page", None)
        context.update(
            filter=self.filter_form,
            query=params.urlencode(),
            held=held_locks(),
            limits=Limits.from_settings(),
            may_unlock=can_unlock_sign_in(self.request.user),
            may_reset=can_reset_passwords(self.request.user),
        )
        return context


class UnlockView(PredicateRequiredMixin, FormView):
    predicate = staticmethod(can_unlock_sign_in)
    form_class = UnlockForm
    http_method_names = ["post"]

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            unlock(
                actor=self.request.user,
                lock=data["lock"],
                username=data["username"] or None,
                ip_address=data["ip_address"] or None,
                reason=data["reason"],
            )
        except ValidationError as exc:
            messages.error(self.request, " ".join(exc.messages))
        else:
            messages.success(self.request, "Unlocked.")
        return redirect("security_review")

    def form_invalid(self, form):
        messages.error(self.request, "Give the reason for the unlock.")
        return redirect("security_review")


class _Echo:
    def write(self, value):
        return value


@login_required
def security_review_csv(request):
    """The filtered security log as CSV, streamed."""
    if not can_review_security(request.user):
        raise PermissionDenied("Your role does not allow this.")
    _, events = _filtered_events(request)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(
            ["time_utc", "what", "user_id", "address", "path", "lock", "by", "reason"]
        )
        for e in events.iterator(chunk_size=500):
            yield writer.writerow(
                [
                    e.at.astimezone(datetime.UTC).isoformat(),
                    e.get_kind_display(),
                    e.username,
                    e.ip_address or "",
                    e.path,
                    e.get_lock_display() if e.lock else "",
                    e.actor.get_username() if e.actor else "",
                    e.reason,
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="security-log.csv"'
    return response
