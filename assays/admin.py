"""Admin pages for instrument API keys: issue (shown once), edit, revoke with a reason.

Keys are never deleted (the database refuses it too): a key no longer wanted is revoked, and
the audit trail keeps who revoked it and why. Issuing and revoking go through the services.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from rest_framework_api_key.admin import APIKeyModelAdmin

from assays import services
from assays.models import InstrumentKey
from lims.audit import audit_context


class InstrumentKeyForm(forms.ModelForm):
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the key is revoked (required to revoke; kept in the audit trail).",
    )

    class Meta:
        model = InstrumentKey
        fields = ["instrument", "name", "expiry_date", "revoked"]

    def clean_expiry_date(self):
        # A key is never issued already expired; an issued key is stopped by revoking it, with
        # a reason, not by moving its expiry into the past.
        value = self.cleaned_data.get("expiry_date")
        if value is not None and "expiry_date" in self.changed_data:
            try:
                services.check_key_expiry(value)
            except ValidationError as exc:
                raise ValidationError(exc.message_dict["expiry_date"]) from exc
        return value

    def clean(self):
        data = super().clean()
        revoking = "revoked" in self.changed_data and data.get("revoked")
        if revoking and not (data.get("reason") or "").strip():
            self.add_error("reason", "A reason is required to revoke a key.")
        return data


@admin.register(InstrumentKey)
class InstrumentKeyAdmin(APIKeyModelAdmin):
    form = InstrumentKeyForm
    list_display = (
        "prefix",
        "name",
        "instrument",
        "created",
        "expiry_date",
        "_has_expired",
        "revoked",
    )
    list_filter = ("instrument", "revoked", "created")
    list_select_related = ("instrument",)
    search_fields = ("name", "prefix", "instrument__code")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        # A key never moves to another instrument.
        return (*fields, "instrument") if obj is not None else fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            key, plain = services.instrument_key_issue(
                actor=request.user,
                instrument=obj.instrument,
                name=obj.name,
                expiry_date=obj.expiry_date,
                reason="Key issued from the admin pages",
            )
            # The admin goes on with `obj` (change log, redirect): make it the saved key.
            for field in ("id", "prefix", "hashed_key", "created", "name", "expiry_date"):
                setattr(obj, field, getattr(key, field))
            obj._state.adding, obj._state.db = False, key._state.db
            messages.warning(
                request,
                f"The API key for {key.name} is: {plain} — store it now in the instrument's "
                "configuration: it cannot be shown again.",
            )
            return
        edited = [name for name in form.changed_data if name in ("name", "expiry_date")]
        if edited:
            with audit_context(actor=request.user, reason="Key edited in the admin pages"):
                obj.save(update_fields=edited)
        if "revoked" in form.changed_data and obj.revoked:
            services.instrument_key_revoke(
                actor=request.user, key=obj, reason=form.cleaned_data["reason"].strip()
            )
