"""What a sender reports, before validation: the common shape of results typed in a form, posted
as JSON or ASM, or read from an instrument file (assays.ingest), which assays.services.run_record
validates and stores."""

from dataclasses import dataclass, field


@dataclass
class ResultInput:
    """One value as a sender reports it, before validation."""

    sample: str
    analyte: str
    value: float | None = None
    text_value: str = ""
    unit: str = ""
    qualifier: str = ""
    replicate: str = ""
    well: str = ""
    target: str = ""
    source_sample: str = ""
    flags: list[str] = field(default_factory=list)


@dataclass
class WorksheetRow:
    """One row of a worksheet: a sample as typed or scanned, and the values entered for it
    (one per analyte column filled; their `sample` is the row's)."""

    sample: str
    results: list[ResultInput] = field(default_factory=list)
