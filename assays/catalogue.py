"""The assay catalogue seeded at installation (DOMAIN.md §3): assays, versions and analytes.

Data, not code: a site changes it through new assay versions, never by editing these rows.
"""

from assays.qc import suitability

NUMERIC, QUALITATIVE, TEXT = "numeric", "qualitative", "text"
DETECTION = ["detected", "not detected"]
GROWTH = ["growth", "no growth"]
POS_NEG = ["positive", "negative"]

# An analyte of the catalogue: (code, name, type, unit, allowed values).
AnalyteRow = tuple[str, str, str, str, list[str]]

# The run's own controls, checked as its validity criteria (assays.qc.suitability; assays 0013).
# qPCR: the no-template control's call and, where the run has a standard curve, its
# amplification efficiency (MIQE, Bustin et al., Clin Chem 2009;55:611).
QPCR_CONTROLS: list[AnalyteRow] = [
    ("ntc", "No-template control (NTC)", QUALITATIVE, "", suitability.NTC_CALLS),
    ("efficiency", "Amplification efficiency (standard curve)", NUMERIC, "percent", []),
]
# A 4PL/5PL standard curve's statistics, entered from the plate software's fit until the run
# records its standards (issue 10); computed from the standards where the run has them.
CURVE_CONTROLS: list[AnalyteRow] = [
    (suitability.CURVE_CONVERGED, "Standard curve converged (1 yes, 0 no)", NUMERIC, "", []),
    (
        suitability.STANDARDS_IN_TOLERANCE,
        "Standards back-calculated within ±20 % (±25 % at the ends)",
        NUMERIC,
        "percent",
        [],
    ),
]
# A multiplex bead assay's concentration per analyte, read on that analyte's own standard curve
# from the file's Net MFI (issue 10; assays.qc.plate.compute_multiplex); the result's target
# names the analyte (bead region) as the xPONENT protocol does.
MULTIPLEX_CONCENTRATION: AnalyteRow = (
    "cytokine",
    "Cytokine concentration (multiplex standard curve)",
    NUMERIC,
    "pg/mL",
    [],
)

# code, name, method, SOP, applies_to, [(analyte code, name, type, unit, allowed values)]
ASSAYS = [
    (
        "NTA",
        "Particle size and concentration",
        "Nanoparticle tracking analysis (NanoSight)",
        "SOP-QC-001",
        "lot",
        [
            ("concentration", "Particle concentration", NUMERIC, "particle/mL", []),
            ("mean_size", "Mean size", NUMERIC, "nm", []),
            ("mode_size", "Mode size", NUMERIC, "nm", []),
            ("sd_size", "Size SD", NUMERIC, "nm", []),
            ("d10", "D10", NUMERIC, "nm", []),
            ("d50", "D50", NUMERIC, "nm", []),
            ("d90", "D90", NUMERIC, "nm", []),
            ("fraction_50_400", "Particles between 50 and 400 nm", NUMERIC, "percent", []),
        ],
    ),
    (
        "BCA",
        "Total protein",
        "Bicinchoninic acid assay, microplate",
        "SOP-QC-002",
        "lot",
        [
            ("protein", "Protein concentration", NUMERIC, "ug/mL", []),
            ("absorbance", "Absorbance 562 nm", NUMERIC, "", []),
            *CURVE_CONTROLS,
        ],
    ),
    (
        "EV-MARKERS",
        "EV markers",
        "Western blot / bead flow cytometry (MISEV2018)",
        "SOP-QC-003",
        "lot",
        [
            (m, m, QUALITATIVE, "", POS_NEG)
            for m in ("CD9", "CD63", "CD81", "TSG101", "ALIX", "calnexin", "GM130")
        ],
    ),
    (
        "TEM",
        "Morphology",
        "Transmission electron microscopy",
        "SOP-QC-004",
        "lot",
        [
            (
                "morphology",
                "Cup-shaped vesicles with intact membrane",
                QUALITATIVE,
                "",
                ["conforms", "does not conform"],
            ),
            ("comment", "Observation", TEXT, "", []),
        ],
    ),
    (
        "ENDOTOXIN",
        "Bacterial endotoxins",
        "LAL kinetic chromogenic (USP <85>)",
        "SOP-QC-005",
        "lot",
        [
            ("endotoxin", "Endotoxin", NUMERIC, "EU/mL", []),
            ("spike_recovery", "Spike recovery", NUMERIC, "percent", []),
            ("onset_time", "Onset time", NUMERIC, "s", []),
            ("curve_r", "Standard curve correlation r", NUMERIC, "", []),
        ],
    ),
    (
        "STERILITY",
        "Sterility",
        "Membrane filtration culture (USP <71>)",
        "SOP-QC-006",
        "lot",
        [
            ("sterility", "Sterility", QUALITATIVE, "", GROWTH),
        ],
    ),
    (
        "STERILITY-CB",
        "Sterility (cells)",
        "Culture (USP <71>)",
        "SOP-QC-006",
        "culture_batch",
        [
            ("sterility", "Sterility", QUALITATIVE, "", GROWTH),
        ],
    ),
    (
        "MYCO",
        "Mycoplasma",
        "qPCR (Ph. Eur. 2.6.7)",
        "SOP-QC-007",
        "lot",
        [
            ("mycoplasma", "Mycoplasma", QUALITATIVE, "", DETECTION),
            *QPCR_CONTROLS,
        ],
    ),
    (
        "MYCO-CB",
        "Mycoplasma (cells)",
        "qPCR (Ph. Eur. 2.6.7)",
        "SOP-QC-007",
        "culture_batch",
        [
            ("mycoplasma", "Mycoplasma", QUALITATIVE, "", DETECTION),
            *QPCR_CONTROLS,
        ],
    ),
    (
        "ISCT-FLOW",
        "MSC identity panel",
        "Flow cytometry, ISCT panel (Dominici 2006)",
        "SOP-QC-008",
        "culture_batch",
        [
            (f"{m}_pct", f"{m} positive", NUMERIC, "percent", [])
            for m in (
                "CD73",
                "CD90",
                "CD105",
                "CD45",
                "CD34",
                "CD14",
                "CD11b",
                "CD79a",
                "CD19",
                "HLA-DR",
            )
        ]
        + [("event_count", "Events acquired", NUMERIC, "", [])],
    ),
    (
        "VIABILITY",
        "Viability and cell count",
        "Trypan blue / Vi-CELL BLU",
        "SOP-QC-009",
        "culture_batch",
        [
            ("viability", "Viability", NUMERIC, "percent", []),
            ("viable_cell_density", "Viable cell density", NUMERIC, "cell/mL", []),
            ("total_cell_density", "Total cell density", NUMERIC, "cell/mL", []),
            ("total_cell_count", "Total cells counted", NUMERIC, "cell", []),
        ],
    ),
    (
        "POTENCY-MAC",
        "Potency: macrophage polarization",
        "LPS-stimulated macrophages treated with the lot (RAW 264.7 / THP-1)",
        "SOP-QC-010",
        "lot",
        [
            # Signals of the treated wells and of the run's LPS-only and unstimulated controls.
            ("tnf_ev", "TNF-α, LPS + lot", NUMERIC, "pg/mL", []),
            ("tnf_lps", "TNF-α, LPS only", NUMERIC, "pg/mL", []),
            ("tnf_unstimulated", "TNF-α, unstimulated", NUMERIC, "pg/mL", []),
            ("il6_ev", "IL-6, LPS + lot", NUMERIC, "pg/mL", []),
            ("il6_lps", "IL-6, LPS only", NUMERIC, "pg/mL", []),
            ("il6_unstimulated", "IL-6, unstimulated", NUMERIC, "pg/mL", []),
            ("il10_ev", "IL-10, LPS + lot", NUMERIC, "pg/mL", []),
            ("il10_lps", "IL-10, LPS only", NUMERIC, "pg/mL", []),
            ("tgfb_ev", "TGF-β, LPS + lot", NUMERIC, "pg/mL", []),
            ("tgfb_lps", "TGF-β, LPS only", NUMERIC, "pg/mL", []),
            ("CD86_pct", "CD86 positive", NUMERIC, "percent", []),
            ("CD206_pct", "CD206 positive", NUMERIC, "percent", []),
            # Multiplex bead signal per cytokine (the result's target names the cytokine).
            ("net_mfi", "Net median fluorescence", NUMERIC, "RFU", []),
            # ... and its concentration read on that cytokine's standard curve (assays 0022).
            MULTIPLEX_CONCENTRATION,
        ],
    ),
    (
        "MIRNA-QPCR",
        "miRNA cargo",
        "RT-qPCR, ΔΔCt vs reference lot",  # v1 text; RQ by Pfaffl as configured (qpcr)
        "SOP-QC-011",
        "lot",
        [
            # One analyte for every target: the result's target names the miRNA or the
            # reference small RNA; the calibrator (reference lot) is measured in the same run.
            ("ct", "Cycle threshold (Ct)", NUMERIC, "", []),
            ("calibrator_ct", "Calibrator (reference lot) Ct", NUMERIC, "", []),
            *QPCR_CONTROLS,
        ],
    ),
]


# Assays added for version 2 of the drug-substance specification (release 0005): what MISEV2023
# (Welsh et al., J Extracell Vesicles 2024;13:e12404) and the ISCT/ISEV position on MSC-EVs
# (Witwer et al., J Extracell Vesicles 2019;8:1609206) expect and version 1 did not test.
ADDED_ASSAYS = [
    (
        "EV-IDENTITY",
        "MSC identity on the EVs",
        "Bead-based multiplex flow cytometry of EV surface markers",
        "SOP-QC-012",
        "lot",
        [(m, m, QUALITATIVE, "", POS_NEG) for m in ("CD73", "CD90", "CD105", "CD45", "CD14")],
    ),
    (
        "EV-COISOLATES",
        "Non-EV co-isolates",
        "Western blot / ELISA of lipoproteins and albumin (MISEV2023)",
        "SOP-QC-013",
        "lot",
        [(m, m, QUALITATIVE, "", POS_NEG) for m in ("ApoA1", "ApoB", "albumin")],
    ),
    (
        "DSDNA",
        "Residual double-stranded DNA",
        "Fluorescent dye binding (PicoGreen), microplate",
        "SOP-QC-014",
        "lot",
        [("dsdna", "dsDNA concentration", NUMERIC, "ng/mL", [])],
    ),
    (
        "APPEARANCE",
        "Appearance",
        "Visual inspection: clarity, colour, visible particles (Ph. Eur. 2.2.1, 2.2.2, 2.9.20)",
        "SOP-QC-015",
        "lot",
        [("appearance", "Appearance", QUALITATIVE, "", ["conforms", "does not conform"])],
    ),
    (
        "PH",
        "pH",
        "Potentiometry (Ph. Eur. 2.2.3)",
        "SOP-QC-016",
        "lot",
        [("ph", "pH", NUMERIC, "", [])],
    ),
    (
        "OSMOLALITY",
        "Osmolality",
        "Freezing-point depression (Ph. Eur. 2.2.35)",
        "SOP-QC-017",
        "lot",
        [("osmolality", "Osmolality", NUMERIC, "mOsm/kg", [])],
    ),
    (
        "BIOBURDEN",
        "Bioburden before final filtration",
        "Membrane filtration, total aerobic microbial count (Ph. Eur. 2.6.12)",
        "SOP-QC-018",
        "lot",
        [("bioburden", "Total aerobic microbial count", NUMERIC, "CFU/100 mL", [])],
    ),
]


def seed_added_assays(apps, schema_editor=None):
    seed_catalogue(apps, schema_editor, assays=ADDED_ASSAYS)


def seed_catalogue(apps, schema_editor=None, assays=ASSAYS):
    """Create version 1 of every assay given (idempotent), owned by the system account."""
    User = apps.get_model("lims", "User")
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    Analyte = apps.get_model("assays", "Analyte")
    system, _ = User.objects.get_or_create(
        username="system",
        defaults={"is_active": False, "first_name": "LIMS", "last_name": "installation"},
    )
    for code, name, method, sop, applies_to, analytes in assays:
        assay, created = AssayDefinition.objects.get_or_create(
            code=code,
            version=1,
            defaults=dict(
                name=name,
                method=method,
                sop_reference=sop,
                applies_to=applies_to,
                created_by=system,
            ),
        )
        if not created:
            continue
        Analyte.objects.bulk_create(
            Analyte(
                assay=assay,
                code=a_code,
                name=a_name,
                result_type=kind,
                unit=unit,
                allowed_values=allowed,
                position=i,
                created_by=system,
            )
            for i, (a_code, a_name, kind, unit, allowed) in enumerate(analytes)
        )


# assay code -> reagent lot categories (batches.ReagentLot.Category) a run of version 1 must
# name (later versions carry their own).
REQUIRED_REAGENTS = {
    "ENDOTOXIN": ["lal_reagent"],  # LAL kinetic chromogenic: the LAL reagent lot
    "BCA": ["bca_kit"],  # microplate BCA: the kit (reagents A/B and the BSA standard)
    "MYCO": ["qpcr_master_mix"],  # mycoplasma qPCR
    "MYCO-CB": ["qpcr_master_mix"],
    "MIRNA-QPCR": ["qpcr_master_mix"],  # RT-qPCR of the miRNA cargo
}


def set_required_reagents(apps, schema_editor=None):
    """Set the reagent categories version 1 of each assay requires (idempotent)."""
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    for code, categories in REQUIRED_REAGENTS.items():
        AssayDefinition.objects.filter(code=code, version=1).update(required_reagents=categories)


# assay code -> validity criteria of version 1 (assays.qc.suitability): a run that fails them is
# invalid, not out of specification.
SUITABILITY = {"ENDOTOXIN": suitability.LAL, "POTENCY-MAC": suitability.POTENCY_WINDOW}
# Analytes added to version 1 after it was first seeded: (assay, code, name, type, unit,
# allowed values).
ADDED_ANALYTES: list[tuple[str, str, str, str, str, list[str]]] = [
    ("ENDOTOXIN", "curve_r", "Standard curve correlation r", NUMERIC, "", [])
]

# assays 0013: the run controls of the qPCR assays and of the 4PL/5PL standard-curve assays as
# validity criteria of version 1, with the analytes the bench records them in.
CONTROL_SUITABILITY = {
    "MYCO": suitability.QPCR,
    "MYCO-CB": suitability.QPCR,
    "MIRNA-QPCR": suitability.QPCR,
    "BCA": suitability.STANDARD_CURVE,
}
CONTROL_ANALYTES = [
    (assay, *analyte)
    for assay, controls in (
        ("MYCO", QPCR_CONTROLS),
        ("MYCO-CB", QPCR_CONTROLS),
        ("MIRNA-QPCR", QPCR_CONTROLS),
        ("BCA", CURVE_CONTROLS),
    )
    for analyte in controls
]

# assay code -> days a run takes before its result exists (version 1): sterility by membrane
# filtration or direct inoculation incubates at least 14 days (USP <71>, Ph. Eur. 2.6.1). The
# mycoplasma assays here are NAT (qPCR, Ph. Eur. 2.6.7), which need no culture time.
MINIMUM_DAYS = {"STERILITY": 14, "STERILITY-CB": 14}


def set_suitability(apps, schema_editor=None):
    """Set the validity criteria of version 1 of each assay, with the analytes they read
    (idempotent)."""
    _set_suitability(apps, SUITABILITY, ADDED_ANALYTES)


def set_control_suitability(apps, schema_editor=None):
    """assays 0013: the qPCR and standard-curve run controls as validity criteria of version 1,
    with their analytes (idempotent)."""
    _set_suitability(apps, CONTROL_SUITABILITY, CONTROL_ANALYTES)


def _set_suitability(apps, rules_by_assay, analytes):
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    Analyte = apps.get_model("assays", "Analyte")
    for code, rules in rules_by_assay.items():
        AssayDefinition.objects.filter(code=code, version=1).update(suitability=rules)

    for assay_code, code, name, kind, unit, allowed in analytes:
        assay = AssayDefinition.objects.filter(code=assay_code, version=1).first()
        if assay is None or Analyte.objects.filter(assay=assay, code=code).exists():
            continue
        position = Analyte.objects.filter(assay=assay).count()
        Analyte.objects.create(
            assay=assay,
            code=code,
            name=name,
            result_type=kind,
            unit=unit,
            allowed_values=allowed,
            position=position,
            created_by_id=assay.created_by_id,
        )


def set_minimum_days(apps, schema_editor=None):
    """Set how many days a run of version 1 of each assay takes (idempotent)."""
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    for code, days in MINIMUM_DAYS.items():
        AssayDefinition.objects.filter(code=code, version=1).update(minimum_days=days)


# assays 0016 (issue 13): the potency assay that reports against the reference standard, its
# relative potency computed from the dose series of both (assays.qc.relative_potency), next to
# the % inhibition of the single-dose wells. The assay names its reference material.
RELATIVE_POTENCY_ASSAYS: list[tuple[str, str, str, str, str, list[AnalyteRow]]] = [
    (
        "POTENCY-RP",
        "Potency: relative to the reference standard",
        "TNF-α inhibition by LPS-stimulated macrophages, dose series of the lot and of the "
        "reference standard (parallel 4PL, USP <1034>)",
        "SOP-QC-011",
        "lot",
        [
            ("tnf_ev", "TNF-α, LPS + lot", NUMERIC, "pg/mL", []),
            ("tnf_lps", "TNF-α, LPS only", NUMERIC, "pg/mL", []),
            ("tnf_unstimulated", "TNF-α, unstimulated", NUMERIC, "pg/mL", []),
            # One result per well; its target is the well's dose in µg/mL (same unit for both).
            ("tnf_reference", "TNF-α, reference standard dose series", NUMERIC, "pg/mL", []),
            ("tnf_test", "TNF-α, lot dose series", NUMERIC, "pg/mL", []),
        ],
    )
]
REFERENCE_MATERIALS = {"POTENCY-RP": "EV-RS"}


def seed_reference_assays(apps, schema_editor=None):
    """Version 1 of the relative-potency assay, naming its reference material (idempotent)."""
    seed_catalogue(apps, schema_editor, assays=RELATIVE_POTENCY_ASSAYS)
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    for code, material in REFERENCE_MATERIALS.items():
        AssayDefinition.objects.filter(code=code, version=1).update(reference_material=material)


# The gating of the ISCT panel (issue 10): cells on forward/side scatter area (debris and the
# low-scatter noise left out), each marker found by its stain label ($PnS, e.g. "CD73 APC"), its
# threshold at the 99th percentile of the isotype control (Maecker & Trotter, Cytometry A
# 2006;69:1037). A site tunes the gate through a new assay version.
ISCT_FLOW_GATING = {
    "gate": {"x_channel": "FSC-A", "y_channel": "SSC-A", "x_min": 20000, "y_min": 10000},
    "markers": {
        m: "" for m in ("CD73", "CD90", "CD105", "CD45", "CD34", "CD14", "CD11b", "CD79a", "CD19",
                        "HLA-DR")
    },
    "percentile": 99.0,
    "control": "isotype",
}  # fmt: skip


def set_flow_gating(apps, schema_editor=None):
    """assays 0017: the ISCT panel's gating on version 1 of ISCT-FLOW (idempotent)."""
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    AssayDefinition.objects.filter(code="ISCT-FLOW", version=1, flow_gating={}).update(
        flow_gating=ISCT_FLOW_GATING
    )


# Plate layout templates of version 1 (issue 10 item 5; assays.qc.plate). "reports" names the
# analyte a sample's value is stored as; "fit" is the default, changeable on upload.
BSA_SERIES = [2000.0, 666.67, 222.22, 74.074, 24.691, 8.2305, 2.7435]  # 1:3 from 2000 µg/mL
PLATE_LAYOUTS = {
    "BCA": [
        {
            "name": "BSA 2000 to 2.74 µg/mL (1:3) in triplicate, blank H1-H3, 6 samples at 1, 2, "
            "4 and 8-fold",
            "reports": "protein",
            "fit": "4pl",
            "unit": "ug/mL",
            "response": "absorbance",
            "blank_subtract": True,
            "groups": [
                {
                    "role": "standard",
                    "name": f"STD{i + 1}",
                    "concentration": c,
                    "wells": f"{'ABCDEFG'[i]}1:{'ABCDEFG'[i]}3",
                }
                for i, c in enumerate(BSA_SERIES)
            ]
            + [{"role": "blank", "name": "Blank", "wells": "H1:H3"}]
            + [
                {
                    "role": "sample",
                    "name": f"SPL{s + 1}",
                    "dilution": d,
                    "wells": f"{'ABCDEFGH'[(0 if s < 3 else 4) + k]}{4 + 3 * (s % 3)}:"
                    f"{'ABCDEFGH'[(0 if s < 3 else 4) + k]}{6 + 3 * (s % 3)}",
                }
                for s in range(6)
                for k, d in enumerate((1.0, 2.0, 4.0, 8.0))
            ],
        }
    ],
    "ENDOTOXIN": [
        {
            "name": "Kinetic LAL: CSE 5 to 0.005 EU/mL in duplicate, LRW blank, 4 samples at "
            "1:10 with PPC (0.5 EU/mL spike)",
            "reports": "endotoxin",
            "fit": "loglog",
            "unit": "EU/mL",
            "response": "onset_time",
            "blank_subtract": False,
            "groups": [
                {
                    "role": "standard",
                    "name": f"CSE {c:g}",
                    "concentration": c,
                    "wells": f"{'ABCD'[i]}1:{'ABCD'[i]}2",
                }
                for i, c in enumerate((5.0, 0.5, 0.05, 0.005))
            ]
            + [{"role": "blank", "name": "LRW", "wells": "E1:E2"}]
            + [
                {
                    "role": role,
                    "name": f"SPL{s + 1}",
                    "dilution": 10.0,
                    **({"concentration": 0.5} if role == "spike" else {}),
                    "wells": f"{'ABCD'[s]}{col}:{'ABCD'[s]}{col + 1}",
                }
                for s in range(4)
                for role, col in (("sample", 3), ("spike", 5))
            ],
        }
    ],
}

# Luminex xPONENT multiplex cytokines (POTENCY-MAC): seven standards 1:4 from 10,000 pg/mL in
# duplicate (xPONENT's Standard1-7) in A1-G2, background wells H1-H2 (xPONENT already subtracts
# their median from each well's: Net MFI, so nothing is subtracted again), 40 samples in
# duplicate named as xPONENT names unknowns (Unknown1...). One 5PL per analyte on Net MFI; a kit
# whose analytes start at different top standards gives them per analyte ("concentrations").
MULTIPLEX_STANDARDS = [10000.0 / 4**i for i in range(7)]
MULTIPLEX_LAYOUT = {
    "name": "xPONENT: Standard1-7 (1:4 from 10,000 pg/mL) in duplicate A1-G2, background "
    "H1-H2, Unknown1-40 in duplicate",
    "reports": "cytokine",
    "fit": "5pl",
    "unit": "pg/mL",
    "response": "mfi",
    "blank_subtract": False,
    "groups": [
        {
            "role": "standard",
            "name": f"Standard{i + 1}",
            "concentration": c,
            "wells": f"{'ABCDEFG'[i]}1:{'ABCDEFG'[i]}2",
        }
        for i, c in enumerate(MULTIPLEX_STANDARDS)
    ]
    + [{"role": "blank", "name": "Background", "wells": "H1:H2"}]
    + [
        {
            "role": "sample",
            "name": f"Unknown{5 * r + k + 1}",
            "wells": f"{'ABCDEFGH'[r]}{3 + 2 * k}:{'ABCDEFGH'[r]}{4 + 2 * k}",
        }
        for r in range(8)
        for k in range(5)
    ],
}


def set_multiplex_plate(apps, schema_editor=None):
    """assays 0022: POTENCY-MAC v1 reads cytokine concentrations from its multiplex standards:
    the `cytokine` analyte and the xPONENT layout template (idempotent)."""
    _set_suitability(apps, {}, [("POTENCY-MAC", *MULTIPLEX_CONCENTRATION)])
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    AssayDefinition.objects.filter(code="POTENCY-MAC", version=1, plate_layouts=[]).update(
        plate_layouts=[MULTIPLEX_LAYOUT]
    )


def set_plate_layouts(apps, schema_editor=None):
    """Give version 1 of the plate assays their layout templates (idempotent)."""
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    for code, layouts in PLATE_LAYOUTS.items():
        AssayDefinition.objects.filter(code=code, version=1, plate_layouts=[]).update(
            plate_layouts=layouts
        )


# The qPCR analysis of version 1 of MIRNA-QPCR (issue 10 item 6; assays.qc.qpcr_analysis): U6
# snRNA the reference, every efficiency the validated 100 % (E = 2) the method was validated
# with, so the RQ is Pfaffl's ratio at E = 2, i.e. Livak & Schmittgen's 2^-ΔΔCt as before. A
# site adds references (geometric mean), a spike-in or a run's standard curve through a new
# assay version with its reason (assays.qpcr_services.qpcr_configure).
MIRNA_QPCR_CONFIG = {
    "references": ["U6"],
    "spike_in": "",
    "targets": [],
    "efficiency": {"source": "validated", "percent": 100.0},
    "efficiencies": {},
    "calibrator_sample": "",
    "calibrator": "Reference lot, measured in the same run (calibrator_ct results)",
}


def set_qpcr_config(apps, schema_editor=None):
    """assays 0023: the qPCR analysis on version 1 of MIRNA-QPCR (idempotent)."""
    AssayDefinition = apps.get_model("assays", "AssayDefinition")
    AssayDefinition.objects.filter(code="MIRNA-QPCR", version=1, qpcr={}).update(
        qpcr=MIRNA_QPCR_CONFIG
    )
