"""Which LIMS sample each sample of an instrument file is: matched by the name the file gives it.

A file's records (assays.parsers.file_samples) name their samples; each name of a sample is a
LIMS sample (a lot, a vial, a culture batch: whatever the assay tests) when the LIMS knows it by
that identifier, or is mapped to one by the person (or the instrument key's client) who sends
the file, or is left out with a recorded reason. Standards, blanks and controls are recognised
as such and attributed to no sample. Nothing is attributed silently: a name neither matched,
mapped nor left out refuses the file, and two names of the file never become one LIMS sample
(their values would be averaged as one).

The outcome (`Matching.as_record`) is kept with the file (InstrumentFile.sample_map), so the
parse that records the run attributes exactly what the sender confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from assays import sample_targets
from assays.models import AssayDefinition
from assays.parsers.file_samples import Role, SampleRecord

MATCHED = "matched"  # the file's name is a LIMS identifier
MAPPED = "mapped"  # the sender named the LIMS sample
EXCLUDED = "excluded"  # left out, with a reason
UNMATCHED = "unmatched"
RECOGNISED = "recognised"  # a standard, blank or control: no LIMS sample


@dataclass
class NameMatch:
    """One name of the file and what became of it."""

    identifier: str
    role: Role
    positions: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    value_count: int = 0
    status: str = UNMATCHED
    sample: str = ""  # the LIMS identifier it is attributed to
    sample_label: str = ""  # what that identifier is ("lot EXO-…", "culture batch CB-…")
    sample_url: str = ""  # the LIMS sample's page
    reason: str = ""  # why it is left out, or why it matches nothing

    @property
    def shown_name(self) -> str:
        return self.identifier or "(not named in the file)"


@dataclass
class Matching:
    """Every name of a file, in file order, and the refusals (empty when it may be recorded)."""

    names: list[NameMatch]
    errors: list[str] = field(default_factory=list)
    # What is wrong with the one sample identifier given for a file of one sample.
    sample_errors: list[str] = field(default_factory=list)

    def of_status(self, *statuses: str) -> list[NameMatch]:
        return [n for n in self.names if n.status in statuses]

    @property
    def attributed(self) -> list[NameMatch]:
        return self.of_status(MATCHED, MAPPED)

    @property
    def unmatched(self) -> list[NameMatch]:
        return self.of_status(UNMATCHED)

    @property
    def excluded(self) -> list[NameMatch]:
        return self.of_status(EXCLUDED)

    @property
    def recognised(self) -> list[NameMatch]:
        return self.of_status(RECOGNISED)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.unmatched and bool(self.attributed)

    def attribution(self) -> dict[str, str]:
        """File identifier → LIMS identifier, for the names attributed to a LIMS sample."""
        return {n.identifier: n.sample for n in self.attributed}

    def as_record(self) -> dict[str, Any]:
        """What is kept with the file: every name, its role, wells and fate."""
        return {
            "names": [
                {
                    "name": n.identifier,
                    "role": str(n.role),
                    "positions": n.positions,
                    "status": n.status,
                    "sample": n.sample,
                    "reason": n.reason,
                }
                for n in self.names
            ]
        }

    def refusal(self) -> ValidationError:
        """The field-level refusal: `samples` says what is wrong with each name, `unmatched`
        lists the names that still need a LIMS sample or a reason to be left out."""
        messages = list(self.errors) + [
            f"'{n.shown_name}' ({', '.join(n.positions[:4])}"
            f"{'…' if len(n.positions) > 4 else ''}): {n.reason}"
            for n in self.unmatched
        ]
        if self.sample_errors:
            return ValidationError({"sample": self.sample_errors})
        if not self.attributed and not messages:
            messages.append("No sample of the file is attributed to a LIMS sample.")
        errors: dict[str, list[str]] = {"samples": messages}
        if self.unmatched:
            errors["unmatched"] = [n.shown_name for n in self.unmatched]
        return ValidationError(errors)


def attribution_of(sample_map: Mapping[str, Any]) -> dict[str, str]:
    """The attribution kept with a file (`Matching.as_record`)."""
    return {
        n["name"]: n["sample"]
        for n in sample_map.get("names", [])
        if n.get("status") in (MATCHED, MAPPED)
    }


def match_samples(
    records: Iterable[SampleRecord],
    assay: AssayDefinition,
    *,
    mapping: Mapping[str, str] | None = None,
    excluded: Mapping[str, str] | None = None,
    sample: str = "",
) -> Matching:
    """Match a file's sample names to LIMS samples, in a fixed number of queries.

    `mapping` names the LIMS sample of a file name (file name → LIMS identifier), `excluded`
    leaves a name out (file name → reason). `sample` is the LIMS sample of a file of one
    sample (an NTA experiment, an FCS file, a one-row count): refused for a file naming
    several, whose samples are matched one by one.
    """
    mapping = {k: v.strip() for k, v in (mapping or {}).items() if v and v.strip()}
    excluded = dict(excluded or {})
    names = _names(records)
    errors = []
    known = {n.identifier for n in names}
    for given, what in ((mapping, "mapped"), (excluded, "left out")):
        for given_name in given:
            if given_name not in known:
                errors.append(f"'{given_name}' is {what} but the file names no such sample.")
    samples = [n for n in names if n.role == Role.SAMPLE]
    sample = sample.strip()
    if sample and len(samples) > 1:
        errors.append(
            f"The file names {len(samples)} samples: one sample identifier cannot stand for "
            "them all; each is matched by its name (map the names the LIMS does not know)."
        )
        sample = ""
    by_sample_field: str | None = None
    if sample and samples and samples[0].identifier not in mapping:
        mapping[samples[0].identifier] = sample
        by_sample_field = samples[0].identifier

    wanted = {mapping.get(n.identifier, n.identifier) for n in samples} - {""}
    targets = sample_targets.resolve_samples(wanted, assay) if wanted else {}
    seen: dict[tuple[object, ...], NameMatch] = {}
    sample_errors: list[str] = []
    for name in names:
        if name.role != Role.SAMPLE:
            name.status = RECOGNISED
            if name.identifier in mapping or name.identifier in excluded:
                errors.append(
                    f"'{name.identifier}' is a {name.role} of the run, not a sample: it is "
                    "attributed to no LIMS sample."
                )
            continue
        if name.identifier in excluded:
            name.reason = excluded[name.identifier].strip()
            if name.reason:
                name.status = EXCLUDED
            else:
                errors.append(f"'{name.shown_name}' is left out: say why.")
            continue
        lims = mapping.get(name.identifier, name.identifier)
        target = targets.get(lims)
        if not lims or target is None:
            name.reason = f"not named in the file; give its LIMS sample ({_subject(assay)})."
            continue
        if isinstance(target, ValidationError):
            name.reason = "; ".join(target.messages)
            if name.identifier == by_sample_field:
                sample_errors.append(name.reason)
            continue
        name.status = MAPPED if name.identifier in mapping else MATCHED
        name.sample = lims
        name.sample_label = _describe(target)
        name.sample_url = _url(target)
        key = sample_targets.target_key(target)
        if key in seen:
            errors.append(
                f"'{seen[key].shown_name}' and '{name.shown_name}' would both be "
                f"{name.sample_label}: two samples of the file are never one LIMS sample."
            )
        seen[key] = name
    return Matching(names=names, errors=errors, sample_errors=sample_errors)


def _names(records: Iterable[SampleRecord]) -> list[NameMatch]:
    by_name: dict[tuple[str, Role], NameMatch] = {}
    for record in records:
        name = by_name.setdefault(
            (record.identifier, record.role), NameMatch(record.identifier, record.role)
        )
        name.positions.append(record.position)
        if record.label and record.label not in name.labels:
            name.labels.append(record.label)
        name.value_count += len(record.values)
    return list(by_name.values())


def _subject(assay: AssayDefinition) -> str:
    if assay.applies_to == AssayDefinition.AppliesTo.CULTURE_BATCH:
        return "a culture batch code"
    return "a lot code or a vial barcode"


def _url(target: sample_targets.SampleTarget) -> str:
    shown = target.get("culture_batch") or target.get("aliquot") or target.get("lot")
    return shown.get_absolute_url() if shown is not None else ""


def _describe(target: sample_targets.SampleTarget) -> str:
    if target.get("culture_batch") is not None:
        return f"culture batch {target['culture_batch']}"
    aliquot = target.get("aliquot")
    if aliquot is not None:
        return f"vial {aliquot.barcode} of lot {target['lot']}"
    return f"lot {target['lot']}"
