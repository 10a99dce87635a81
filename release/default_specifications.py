"""Version 1 of the specifications, from DOMAIN.md §3 (defaults a site's QA replaces by
approving a new version; the software never hard-codes these limits)."""

from django.utils import timezone

from assays.qc import endotoxin

# test, method, metric code, comparator, lower, upper, expected, unit, required, reference
DRUG_SUBSTANCE = [
    (
        "Particle concentration",
        "NTA",
        "nta.concentration",
        "gte",
        1.0e10,
        None,
        "",
        "particle/mL",
        True,
        "site-specific",
    ),
    (
        "Size: particles between 50 and 400 nm",
        "NTA",
        "nta.fraction_50_400",
        "gt",
        90,
        None,
        "",
        "percent",
        True,
        "STTT 2025 s41392-025-02262-3 Table 1",
    ),
    ("Size: mode", "NTA", "nta.mode_size", "lt", None, 200, "", "nm", True, "WJSC 2025 Table 1"),
    ("Protein", "BCA", "bca.protein", "report", None, None, "", "ug/mL", False, "MISEV2018"),
    (
        "Purity (particles per µg protein)",
        "NTA / BCA",
        "purity.particles_per_ug",
        "gte",
        3e10,
        None,
        "",
        "particle/ug",
        True,
        "Webber & Clayton, J Extracell Vesicles 2013",
    ),
    (
        "EV marker CD9",
        "Western blot / flow",
        "ev_markers.CD9",
        "equals",
        None,
        None,
        "positive",
        "",
        True,
        "MISEV2018",
    ),
    (
        "EV marker CD63",
        "Western blot / flow",
        "ev_markers.CD63",
        "equals",
        None,
        None,
        "positive",
        "",
        True,
        "MISEV2018",
    ),
    (
        "EV marker CD81",
        "Western blot / flow",
        "ev_markers.CD81",
        "equals",
        None,
        None,
        "positive",
        "",
        True,
        "MISEV2018",
    ),
    (
        "EV marker TSG101",
        "Western blot / flow",
        "ev_markers.TSG101",
        "equals",
        None,
        None,
        "positive",
        "",
        True,
        "MISEV2018",
    ),
    (
        "Negative marker calnexin",
        "Western blot / flow",
        "ev_markers.calnexin",
        "equals",
        None,
        None,
        "negative",
        "",
        True,
        "MISEV2018",
    ),
    (
        "Morphology",
        "TEM",
        "tem.morphology",
        "equals",
        None,
        None,
        "conforms",
        "",
        True,
        "WJSC 2025 Table 1",
    ),
    (
        "Endotoxin",
        "LAL kinetic chromogenic (USP <85>)",
        "endotoxin.eu_per_ml",
        "lt",
        None,
        0.5,
        "",
        "EU/mL",
        True,
        "WJSC 2025; USP <85>",
    ),
    (
        "Sterility",
        "Culture (USP <71>)",
        "sterility.sterility",
        "equals",
        None,
        None,
        "no growth",
        "",
        True,
        "USP <71>",
    ),
    (
        "Mycoplasma",
        "qPCR (Ph. Eur. 2.6.7)",
        "mycoplasma.mycoplasma",
        "equals",
        None,
        None,
        "not detected",
        "",
        True,
        "Ph. Eur. 2.6.7",
    ),
    (
        "Potency: TNF-α inhibition",
        "LPS-stimulated macrophages",
        "potency.tnf_inhibition",
        "gte",
        20,
        None,
        "",
        "percent",
        True,
        "Cytotherapy 2022;24:999",
    ),
    (
        "Potency: IL-10 fold induction",
        "LPS-stimulated macrophages",
        "potency.il10_fold_induction",
        "gte",
        1.5,
        None,
        "",
        "",
        True,
        "Cytotherapy 2022;24:999",
    ),
    (
        "miR-125b relative quantity",
        "RT-qPCR ΔΔCt",
        "mirna.miR-125b.rq",
        "report",
        None,
        None,
        "",
        "",
        False,
        "product-specific",
    ),
    (
        "miR-223 relative quantity",
        "RT-qPCR ΔΔCt",
        "mirna.miR-223.rq",
        "report",
        None,
        None,
        "",
        "",
        False,
        "product-specific",
    ),
]

SOURCE_CELLS = [
    (
        "Viability at harvest",
        "Trypan blue / Vi-CELL",
        "viability",
        "gte",
        90,
        None,
        "",
        "percent",
        True,
        "World J Stem Cells 2025;17(10):110445, Table 1",
    ),
    *[
        (
            f"Identity: {m} positive",
            "Flow cytometry",
            f"identity.{m}_pct",
            "gte",
            95,
            None,
            "",
            "percent",
            True,
            "ISCT, Dominici et al., Cytotherapy 2006;8:315",
        )
        for m in ("CD73", "CD90", "CD105")
    ],
    *[
        (
            f"Identity: {m} negative",
            "Flow cytometry",
            f"identity.{m}_pct",
            "lte",
            None,
            2,
            "",
            "percent",
            True,
            "ISCT, Dominici et al., Cytotherapy 2006;8:315",
        )
        for m in ("CD45", "CD34", "HLA-DR")
    ],
    (
        "Identity: ISCT panel (incl. CD14/CD11b, CD79α/CD19)",
        "Flow cytometry",
        "identity.isct",
        "gte",
        1,
        None,
        "",
        "",
        True,
        "ISCT, Dominici et al., Cytotherapy 2006;8:315",
    ),
    (
        "Mycoplasma",
        "qPCR (Ph. Eur. 2.6.7)",
        "mycoplasma.mycoplasma",
        "equals",
        None,
        None,
        "not detected",
        "",
        True,
        "Ph. Eur. 2.6.7",
    ),
    (
        "Sterility",
        "Culture (USP <71>)",
        "sterility.sterility",
        "equals",
        None,
        None,
        "no growth",
        "",
        True,
        "USP <71>",
    ),
]


def seed_specifications(apps, schema_editor=None):
    User = apps.get_model("lims", "User")
    Specification = apps.get_model("release", "Specification")
    Criterion = apps.get_model("release", "Criterion")
    system = User.objects.get(username="system")
    for product, title, rows in (
        ("msc_sev_ds", "MSC-sEV drug substance release specification", DRUG_SUBSTANCE),
        ("msc_source_cells", "MSC source cells specification", SOURCE_CELLS),
    ):
        if Specification.objects.filter(product=product).exists():
            continue
        spec = Specification.objects.create(
            product=product,
            version=1,
            title=title,
            status="effective",
            effective_from=timezone.now(),
            created_by=system,
        )
        Criterion.objects.bulk_create(
            Criterion(
                specification=spec,
                position=i,
                test=test,
                method=method,
                metric_code=code,
                comparator=comp,
                lower=lo,
                upper=hi,
                expected_text=expected,
                unit=unit,
                required=required,
                reference=ref,
                created_by=system,
            )
            for i, (test, method, code, comp, lo, hi, expected, unit, required, ref) in enumerate(
                rows
            )
        )


# --- Version 2 of the drug-substance specification ----------------------------------------------
# What MISEV2023 (Welsh et al., J Extracell Vesicles 2024;13:e12404) and the ISCT/ISEV position
# on MSC-EVs (Witwer et al., J Extracell Vesicles 2019;8:1609206) expect and version 1 lacks,
# seeded as a draft: QA reviews, approves and makes it effective; lots already in testing stay
# on version 1 (their specification was fixed when testing started).
MISEV2023 = "MISEV2023 (Welsh et al., J Extracell Vesicles 2024;13:e12404)"
WITWER2019 = "Witwer et al., J Extracell Vesicles 2019;8:1609206"
# Alert limits: inside the acceptance limits, provisional until the site's control baselines
# (20 in-control lots, CLSI C24) replace them.
ALERT = "alert limit provisional (site trend)"
# The K/M endotoxin limit: K = 5 EU/kg per hour for a parenteral, non-intrathecal product
# (USP <85>, Ph. Eur. 5.1.10), M from the product's maximum dose: 10 mL infused within an hour
# into a 70 kg adult (product-specific: QA sets it from the clinical protocol).
ENDOTOXIN_K, DOSE_ML_PER_HOUR, BODY_MASS_KG = 5.0, 10.0, 70.0


def _v2(test, method, code, comparator, lower=None, upper=None, expected="", unit="", **extra):
    return {
        "test": test,
        "method": method,
        "metric_code": code,
        "comparator": comparator,
        "lower": lower,
        "upper": upper,
        "expected_text": expected,
        "unit": unit,
        "required": extra.pop("required", True),
        "reference": extra.pop("reference"),
        **extra,
    }


def _marker(test, code, expected, reference, **extra):
    return _v2(
        test,
        "Western blot / bead flow cytometry",
        code,
        "equals",
        expected=expected,
        reference=reference,
        **extra,
    )


DRUG_SUBSTANCE_V2 = [
    _v2(
        "Appearance",
        "Visual inspection (Ph. Eur. 2.2.1, 2.2.2, 2.9.20)",
        "appearance.appearance",
        "equals",
        expected="conforms",
        reference="Ph. Eur. 2.2.1, 2.2.2, 2.9.20: clear to opalescent, no visible particles",
    ),
    _v2(
        "pH",
        "Potentiometry (Ph. Eur. 2.2.3)",
        "ph",
        "between",
        7.0,
        7.8,
        alert_lower=7.2,
        alert_upper=7.6,
        reference=f"Ph. Eur. 2.2.3; formulation buffer; {ALERT}",
    ),
    _v2(
        "Osmolality",
        "Freezing-point depression (Ph. Eur. 2.2.35)",
        "osmolality",
        "between",
        270,
        340,
        unit="mOsm/kg",
        alert_lower=280,
        alert_upper=320,
        reference=f"Ph. Eur. 2.2.35; isotonic for parenteral use; {ALERT}",
    ),
    _v2(
        "Particle concentration",
        "NTA",
        "nta.concentration",
        "gte",
        1.0e10,
        unit="particle/mL",
        alert_lower=2.0e10,
        reference=f"site-specific; {MISEV2023} (quantification); {ALERT}",
    ),
    _v2(
        "Size: particles between 50 and 400 nm",
        "NTA",
        "nta.fraction_50_400",
        "gt",
        90,
        unit="percent",
        alert_lower=95,
        reference=f"STTT 2025 s41392-025-02262-3 Table 1; {ALERT}",
    ),
    _v2(
        "Size: mode",
        "NTA",
        "nta.mode_size",
        "lt",
        upper=200,
        unit="nm",
        alert_upper=150,
        reference=f"WJSC 2025 Table 1; {ALERT}",
    ),
    _v2(
        "Protein",
        "BCA",
        "bca.protein",
        "report",
        unit="ug/mL",
        required=False,
        reference=f"{MISEV2023}: a second quantification method",
    ),
    _v2(
        "Purity (particles per µg protein)",
        "NTA / BCA",
        "purity.particles_per_ug",
        "gte",
        3e10,
        unit="particle/ug",
        alert_lower=5e10,
        reference=f"Webber & Clayton, J Extracell Vesicles 2013; {ALERT}",
    ),
    *[
        _marker(
            f"EV marker {m} (transmembrane)",
            f"ev_markers.{m}",
            "positive",
            f"{MISEV2023}: a transmembrane or GPI-anchored protein",
        )
        for m in ("CD9", "CD63", "CD81")
    ],
    _marker(
        "EV marker, cytosolic: TSG101 or ALIX",
        "ev_markers.TSG101",
        "positive",
        f"{MISEV2023}: a cytosolic protein recovered in EVs, any one of them",
        any_of_codes=["ev_markers.ALIX"],
    ),
    _marker(
        "Non-EV marker calnexin (endoplasmic reticulum)",
        "ev_markers.calnexin",
        "negative",
        f"{MISEV2023}: cellular proteins other than the plasma membrane and endosomes",
    ),
    _marker(
        "Non-EV marker GM130 (Golgi)",
        "ev_markers.GM130",
        "negative",
        f"{MISEV2023}: an organelle protein absent from small EVs",
    ),
    *[
        _v2(
            f"Co-isolate {m}",
            "Western blot / ELISA",
            f"ev_coisolates.{m}",
            "equals",
            expected="negative",
            reference=f"{MISEV2023}: common non-EV co-isolates (lipoproteins, albumin)",
        )
        for m in ("ApoA1", "ApoB", "albumin")
    ],
    *[
        _v2(
            f"MSC identity on EVs: {m} {call}",
            "Bead-based multiplex flow cytometry",
            f"ev_identity.{m}",
            "equals",
            expected=call,
            reference=f"{WITWER2019}: parental MSC markers carried by the EVs",
        )
        for m, call in (
            ("CD73", "positive"),
            ("CD90", "positive"),
            ("CD105", "positive"),
            ("CD45", "negative"),
            ("CD14", "negative"),
        )
    ],
    _v2(
        "Morphology",
        "TEM",
        "tem.morphology",
        "equals",
        expected="conforms",
        reference=f"WJSC 2025 Table 1; {MISEV2023} (single-vesicle imaging)",
    ),
    _v2(
        "Residual dsDNA",
        "Fluorescent dye binding (PicoGreen)",
        "dsdna.ng_per_ml",
        "report",
        unit="ng/mL",
        reference=f"{MISEV2023} (co-isolated nucleic acids); WHO TRS 978 Annex 3 for reference",
    ),
    _v2(
        "Endotoxin",
        "LAL kinetic chromogenic (USP <85>)",
        "endotoxin.eu_per_ml",
        "lt",
        unit="EU/mL",
        alert_upper=0.5,
        endotoxin_k=ENDOTOXIN_K,
        dose_ml_per_hour=DOSE_ML_PER_HOUR,
        body_mass_kg=BODY_MASS_KG,
        reference="USP <85>, Ph. Eur. 5.1.10: K/M; alert at version 1's 0.5 EU/mL (WJSC 2025)",
    ),
    _v2(
        "Bioburden before final filtration",
        "Membrane filtration (Ph. Eur. 2.6.12)",
        "bioburden.cfu",
        "lte",
        upper=10,
        unit="CFU/100 mL",
        reference="EMA Guideline on the sterilisation of the medicinal product "
        "(EMA/CHMP/CVMP/QWP/850374/2015), 10 CFU/100 mL before sterilising filtration",
    ),
    _v2(
        "Sterility",
        "Culture (USP <71>)",
        "sterility.sterility",
        "equals",
        expected="no growth",
        reference="USP <71>",
    ),
    _v2(
        "Mycoplasma",
        "qPCR (Ph. Eur. 2.6.7)",
        "mycoplasma.mycoplasma",
        "equals",
        expected="not detected",
        reference="Ph. Eur. 2.6.7",
    ),
    _v2(
        "Potency: TNF-α inhibition",
        "LPS-stimulated macrophages",
        "potency.tnf_inhibition",
        "gte",
        20,
        unit="percent",
        alert_lower=30,
        reference=f"Cytotherapy 2022;24:999; {ALERT}",
    ),
    _v2(
        "Potency: IL-10 fold induction",
        "LPS-stimulated macrophages",
        "potency.il10_fold_induction",
        "gte",
        1.5,
        alert_lower=2.0,
        reference=f"Cytotherapy 2022;24:999; {ALERT}",
    ),
    *[
        _v2(
            f"{m} relative quantity",
            "RT-qPCR ΔΔCt",
            f"mirna.{m}.rq",
            "report",
            required=False,
            reference="product-specific",
        )
        for m in ("miR-125b", "miR-223")
    ],
]


def derived_upper(row: dict) -> float | None:
    """The K/M limit of a row that gives K, dose and body mass (USP <85>), else its upper."""
    if row.get("endotoxin_k") is None:
        return row["upper"]
    return endotoxin.dose_limit(row["endotoxin_k"], row["dose_ml_per_hour"], row["body_mass_kg"])


def seed_specification_v2(apps, schema_editor=None):
    """Version 2 of the drug-substance specification, as a draft, where the product has only
    version 1 (a site that already made its own version 2 keeps it)."""
    User = apps.get_model("lims", "User")
    Specification = apps.get_model("release", "Specification")
    Criterion = apps.get_model("release", "Criterion")
    versions = Specification.objects.filter(product="msc_sev_ds")
    if not versions.exists() or versions.exclude(version=1).exists():
        return
    system = User.objects.get(username="system")
    spec = Specification.objects.create(
        product="msc_sev_ds",
        version=2,
        title="MSC-sEV drug substance release specification (MISEV2023)",
        status="draft",
        created_by=system,
    )
    Criterion.objects.bulk_create(
        Criterion(
            specification=spec,
            position=i,
            created_by=system,
            **{**row, "upper": derived_upper(row)},
        )
        for i, row in enumerate(DRUG_SUBSTANCE_V2)
    )
