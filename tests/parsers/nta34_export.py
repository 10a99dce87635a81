"""A synthetic NanoSight NTA 3.4 Experiment Summary, generated from a known distribution.

Layout as the NTA 3.2.16 reference export (tests/data/nta/nanosight_nta32_beads.csv), with the
version NTA 3.3+ writes in "Software Version". Two videos; each is the symmetric histogram
``TENT`` (particles/mL ×1e7 in the 1 nm bins centred 95.5 ... 104.5), the second shifted 10 nm.

Hand calculation for the first video (total 40 units = 4.0e8 particles/mL):
cumulative counts 1, 3, 7, 13, 20, 27, 33, 37, 39, 40 at the bins' upper edges 96, 97, ... 105
(NTA 3.3+ convention, ISO 9276-2 grouped data):

* D10: 10 % = 4 units, between 3 (at 97) and 7 (at 98): 97 + (4 − 3)/(7 − 3) = 97.25 nm;
* D50: 20 units reached at 100 exactly: 100.00 nm;
* D90: 36 units, between 33 (at 102) and 37 (at 103): 102 + 3/4 = 102.75 nm;
* mean 100.0 nm (symmetric); SD = sqrt(2·(7·0.5² + 6·1.5² + 4·2.5² + 2·3.5² + 1·4.5²)/40)
  = sqrt(170/40) = 2.0616 nm; mode 100.0 nm (parabola through 98.5/6, 99.5/7, 100.5/7).

The NTA 3.2 (lower-edge) convention would put every D-value exactly 1 nm lower (96.25, 99.00,
101.75): the error the parser must not make on a 3.4 file.
"""

TENT = [1, 2, 4, 6, 7, 7, 6, 4, 2, 1]
FIRST_BIN_CENTRE = 95.5
UNIT = 1e7
SHIFT_NM = 10
EXPECTED = {  # video 1; video 2 is 10 nm larger
    "mean_nm": 100.0,
    "mode_nm": 100.0,
    "sd_nm": (170 / 40) ** 0.5,
    "d10_nm": 97.25,
    "d50_nm": 100.0,
    "d90_nm": 102.75,
    "concentration_per_ml": 4.0e8,
}
# What the instrument prints (to 0.1 nm, concentration to three significant figures).
PRINTED = {"Mean": 100.0, "Mode": 100.0, "SD": 2.1, "D10": 97.3, "D50": 100.0, "D90": 102.8}


def nta34_export(*, dilution: str = "Not recorded", version: str = "3.4.4") -> bytes:
    """The export's bytes; ``dilution`` is what the file says in "Dilution factor"."""
    videos = ["sample_00", "sample_01"]
    n = len(videos)

    def row(label: str, values: list[object], tail: str = ",,") -> str:
        return ",".join([label, *(str(v) for v in values)]) + tail

    def printed(label: str) -> str:
        value = PRINTED[label]
        shifted = value + SHIFT_NM if label not in ("SD",) else value
        return row(label, [value, shifted], f",{(value + shifted) / 2},{SHIFT_NM / 2}")

    lines = [
        "NTA Experiment Summary File",
        f"Created with NTA {version}",
        "",
        "[Experiment Details]",
        f"Software Version,{version}",
        "Experiment Name,synthetic_nta34.nano",
        "",
        row("Filename:", videos),
        "",
        "[Conditions]",
        row("Temperature/C", [22.0, 22.1]),
        row("Camera Level", [14, 14]),
        "",
        "[Settings]",
        row("Detection Threshold", [5, 5]),
        "",
        "[Results]" + "," * n + ",Average,Standard Error",
        row("Dilution factor (concentrations adjusted for this factor)", [dilution] * n),
        row("Concentration (Particles / ml)", ["4.00E+08", "4.00E+08"], ",4.00E+08,0"),
        row("Particles per frame", [42.5, 12.0], ",27.3,15.3"),
        "",
        "[Concentration Warnings]",
        row("Validity of concentration measurement", ["OK", "OK"]),
        row("Particles per frame", ["OK", "Too low"]),
        "",
        "[Information]",
        row("Vibration detected", ["No", "No"]),
        "",
        "[Size Data]",
        "Analysis Method,FTLA",
        "Weighting,Number",
        row("Filename", videos, ",Average,Standard Error"),
        *(printed(label) for label in ("Mean", "Mode", "SD", "D10", "D50", "D90")),
        "Graph Data",
        "Bin centre (nm)" + ",Concentration (particles / ml)" * n + ",Concentration average,",
    ]
    for i in range(1000):
        centre = i + 0.5
        first = _tent(centre)
        second = _tent(centre - SHIFT_NM)
        lines.append(f"{centre},{first:g},{second:g},{(first + second) / 2:g},")
    lines.append("")
    return "\r\n".join(lines).encode("utf-8")


def _tent(centre: float) -> float:
    index = round(centre - FIRST_BIN_CENTRE)
    return TENT[index] * UNIT if 0 <= index < len(TENT) else 0.0
