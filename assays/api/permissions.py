"""Who may call the API: one rule table, the same for every endpoint.

* reads: a signed-in person with a role (lims.roles.can_view_records), or an instrument key
  where the endpoint says an instrument needs it (`instrument_reads = True`: the records a run
  is posted against and what it posted). Release records (specifications, evaluations,
  deviations, signatures, certificates) are for people only: a key is a machine's credential
  with the least privilege its work needs (OWASP ASVS 4.0.3 V4.1.3, V1.4.3);
* writes (runs, ASM runs, files): an instrument key only. Results come only from registered
  instruments (21 CFR 11.10(h)); people enter them in the browser forms, which carry the
  electronic-record controls for people;
* a key posts only for the assays its instrument is registered for.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from assays.api.auth import is_instrument
from assays.api.errors import ERROR_CODES, AssayNotAllowed
from lims.roles import can_view_records


class ApiPermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if request.method in SAFE_METHODS:
            if is_instrument(user):
                self.code = "person_required"
                self.message = (
                    "An instrument key does not read this: sign in as a person to read release "
                    "records."
                )
                return getattr(view, "instrument_reads", False)
            self.code = "permission_denied"
            self.message = "Your account has no role that may read records."
            return can_view_records(user)
        self.code = "instrument_key_required"
        self.message = ERROR_CODES[403]["instrument_key_required"].replace("`", "")
        return is_instrument(user)


def require_assay_allowed(principal, assay_code: str) -> None:
    """403 unless the key's instrument is registered for the assay (refused before any work)."""
    instrument = principal.instrument
    if assay_code not in instrument.assay_codes:
        allowed = ", ".join(instrument.assay_codes) or "none"
        raise AssayNotAllowed(
            f"Instrument {instrument.code} may not report assay '{assay_code}' "
            f"(its assays: {allowed})."
        )
