"""Vial labels: Code128 barcodes as SVG for the printable sheet and PDF, ZPL for Zebra printers."""

from io import BytesIO

import barcode
from barcode.writer import SVGWriter

from batches.models import Aliquot


def code128_svg(value: str) -> str:
    """An inline SVG Code128 symbol of `value` (no text: the label prints it itself)."""
    out = BytesIO()
    barcode.Code128(value, writer=SVGWriter()).write(
        out,
        options={
            "module_height": 8.0,
            "module_width": 0.25,
            "quiet_zone": 2.0,
            "write_text": False,
        },
    )
    svg = out.getvalue().decode()
    # Many symbols share one page: drop the fixed element ids python-barcode writes.
    return svg[svg.index("<svg") :].replace('id="barcode_group"', "").replace('id="background"', "")


def label_rows(aliquots) -> list[dict]:
    return [
        {
            "barcode": a.barcode,
            "svg": code128_svg(a.barcode),
            "lot": a.lot.code,
            "date": a.lot.manufactured_on,
            "volume_ul": a.volume_ul,
            "location": str(a.location) if a.location_id else "",
        }
        for a in aliquots
    ]


def _zpl_text(value: str) -> str:
    # ZPL treats ^ and ~ as command prefixes: keep them out of field data.
    return value.replace("^", " ").replace("~", " ")


def zpl_labels(aliquots: list[Aliquot]) -> str:
    """One ZPL II label per vial (2 x 1 inch at 203 dpi): Code128 plus human-readable lines."""
    labels = []
    for a in aliquots:
        labels.append(
            "\n".join(
                [
                    "^XA",
                    "^CI28",
                    "^PW406",
                    "^LL203",
                    f"^FO20,15^BY2^BCN,70,N,N,N^FD{_zpl_text(a.barcode)}^FS",
                    f"^FO20,95^A0N,28,28^FD{_zpl_text(a.barcode)}^FS",
                    f"^FO20,130^A0N,22,22^FDLot {_zpl_text(a.lot.code)}^FS",
                    f"^FO20,158^A0N,22,22^FD{a.lot.manufactured_on:%Y-%m-%d}  {a.volume_ul} uL^FS",
                    "^XZ",
                ]
            )
        )
    return "\n".join(labels) + "\n"
