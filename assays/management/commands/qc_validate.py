"""Operational qualification: every QC computation against its published worked example.

    python manage.py qc_validate          # table of case, reference, expected, computed,
                                          # tolerance, PASS/FAIL
    python manage.py qc_validate --json   # the same as JSON

Exit status 0 when every case passes, 1 (CommandError) otherwise. The cases are
assays.qc.worked_examples.CASES (DOMAIN.md §4).
"""

import json
import math

from django.core.management.base import BaseCommand, CommandError

from assays.qc import worked_examples


def _text(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.10g}"
    return str(value)


class Command(BaseCommand):
    help = "Run the QC computations against the worked examples of DOMAIN.md §4."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the results as JSON.")

    def handle(self, *args, **options):
        references = {case.name: case.reference for case in worked_examples.CASES}
        results = worked_examples.run_all()
        rows = [
            {
                "case": r.name,
                "reference": references.get(r.name, ""),
                "expected": r.expected,
                "computed": r.computed,
                "tolerance": r.tolerance,
                "passed": r.passed,
            }
            for r in results
        ]
        failed = [r for r in rows if not r["passed"]]
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {"cases": rows, "passed": len(rows) - len(failed), "failed": len(failed)},
                    indent=2,
                    ensure_ascii=False,
                    default=_text,
                )
            )
        else:
            self._table(rows)
            summary = f"{len(rows) - len(failed)} of {len(rows)} worked examples passed."
            style = self.style.SUCCESS if not failed else self.style.ERROR
            self.stdout.write(style(summary))
        if failed:
            names = ", ".join(r["case"] for r in failed)
            raise CommandError(f"{len(failed)} worked example(s) failed: {names}")

    def _table(self, rows) -> None:
        headers = ["Case", "Reference", "Expected", "Computed", "Tolerance", "Result"]
        table = [
            [
                r["case"],
                r["reference"],
                _text(r["expected"]),
                _text(r["computed"]),
                "exact" if r["tolerance"] is None else f"±{r['tolerance']:g}",
                "PASS" if r["passed"] else "FAIL",
            ]
            for r in rows
        ]
        widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
        line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
        self.stdout.write(line)
        self.stdout.write("  ".join("-" * w for w in widths))
        for row in table:
            text = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            style = self.style.SUCCESS if row[-1] == "PASS" else self.style.ERROR
            self.stdout.write(style(text) if row[-1] == "FAIL" else text)
