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
