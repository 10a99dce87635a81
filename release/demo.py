"""Demo data for a first start: people in every role and production records in every status.

It lives in release, the top layer, because it writes through every layer's services, so the
demo also has a real audit trail. Running it
again changes nothing (the demo donor's presence marks a seeded database).
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction
from django.db.models import Q
from django.test import RequestFactory
from django.utils import timezone

from assays import services as qc
from assays.models import AssayRun
from assays.nta_services import nta_dilution_record
from assays.reference_demo import seed_reference_demo
from batches import services
from batches.models import CultureBatch, Donor, ReagentLot
from lims.models import Signature
from lims.roles import ADMIN, ANALYST, QA, TECHNICIAN
from lims.signatures import reauthenticate
from release.demo_qa_records import seed_training_and_custody
from release.stability_demo import seed_stability

DEMO_USERS = [
    # username, role, full name, password (demo only: change or deactivate in production)
    ("tech", TECHNICIAN, ("Tara", "Nguyen"), "tech-demo-password-2026"),
    ("analyst", ANALYST, ("Ari", "Kowalski"), "analyst-demo-password-2026"),
    ("qa", QA, ("Quinn", "Adeyemi"), "qa-demo-password-2026"),
    ("admin", ADMIN, ("Ada", "Morgan"), "admin-demo-password-2026"),
]


def ensure_demo_users():
    User = get_user_model()
    users = {}
    for username, role, (first, last), password in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, first_name=first, last_name=last)
            user.set_password(password)
            user.is_staff = role == ADMIN
            user.is_superuser = False
            user.save()
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


def _demo_signer(user, meaning):
    """A Signer for a demo user, re-authenticated with the demo password as a signing page
    would do it."""
    request = RequestFactory().post("/")
    request.user = user
    request.session = SessionStore()
    password = next(p for name, _, _, p in DEMO_USERS if name == user.username)
    return reauthenticate(
        request=request, username=user.username, password=password, meaning=meaning
    )


@transaction.atomic
def seed_demo() -> bool:
    """Create the demo records; returns False when they were there already."""
    users = ensure_demo_users()
    if Donor.objects.filter(code="DEMO-D001").exists():
        return False
    tech = users[TECHNICIAN]
    today = timezone.localdate()
    now = timezone.now()

    def days_ago(n):
        return today - timedelta(days=n)

    medium = services.reagent_lot_create(
        actor=tech,
        category=ReagentLot.Category.MEDIUM,
        name="MSC NutriStem XF",
        supplier="Sartorius",
        catalogue_number="05-200-1A",
        lot_number="NS24117",
        expiry_date=today + timedelta(days=200),
        received_on=days_ago(60),
    )
    lysate = services.reagent_lot_create(
        actor=tech,
        category=ReagentLot.Category.SERUM,
        name="Human platelet lysate",
        supplier="Stemcell Technologies",
        catalogue_number="PLS-500",
        lot_number="HPL2409",
        expiry_date=today + timedelta(days=120),
        received_on=days_ago(50),
    )
    services.reagent_lot_create(
        actor=tech,
        category=ReagentLot.Category.SUPPLEMENT,
        name="L-glutamine 200 mM",
        supplier="Gibco",
        catalogue_number="25030-081",
        lot_number="GL2201",
        expiry_date=days_ago(10),
        received_on=days_ago(400),
    )
    sec_column = services.reagent_lot_create(
        actor=tech,
        category=ReagentLot.Category.KIT,
        name="qEV10 SEC column",
        supplier="Izon",
        catalogue_number="ICO-10",
        lot_number="QEV7781",
        expiry_date=today + timedelta(days=300),
        received_on=days_ago(30),
    )
    donors = [
        services.donor_create(
            actor=tech,
            code="DEMO-D001",
            tissue_source="umbilical_cord",
            consent_reference="TB-CONSENT-2026-017",
        ),
        services.donor_create(
            actor=tech,
            code="DEMO-D002",
            tissue_source="bone_marrow",
            consent_reference="TB-CONSENT-2026-021",
        ),
    ]
    banks = []
    for donor in donors:
        master = services.cell_bank_create(
            actor=tech,
            donor=donor,
            bank_type="master",
            passage=2,
            vials=40,
            frozen_on=days_ago(120),
            storage="LN2 tank 1, rack A",
        )
        banks.append(
            services.cell_bank_create(
                actor=tech,
                donor=donor,
                bank_type="working",
                passage=4,
                vials=80,
                frozen_on=days_ago(90),
                storage="LN2 tank 1, rack B",
                parent_bank=master,
            )
        )

    batches = []
    for i, bank in enumerate(banks * 2):
        start = days_ago(40 - i * 6)
        batch = services.culture_batch_create(
            actor=tech, cell_bank=bank, started_on=start, reagent_lots=[medium, lysate]
        )
        seeded = 1_000_000
        for p in range(1, 4):
            harvested = int(seeded * (3.2 + 0.3 * p + 0.1 * i))
            services.passage_record(
                actor=tech,
                batch=batch,
                number=p + 4,
                seeded_on=start + timedelta(days=4 * (p - 1)),
                harvested_on=start + timedelta(days=4 * p),
                seeding_density_per_cm2=5000,
                cells_seeded=seeded,
                cells_harvested=harvested,
                viability_pct=96.5 - p * 0.8,
                confluence_pct=80 + p * 3,
            )
        batches.append(batch)

    # Batches 0-2 are harvested; 0 and 1 feed lots, 2 is closed, 3 stays in culture.
    harvests = []
    for batch in batches[:3]:
        harvests.append(
            services.harvest_record(
                actor=tech,
                batch=batch,
                harvested_at=now - timedelta(days=20),
                volume_ml=Decimal("500"),
                medium="serum_free",
            )
        )
    services.move_culture_batch(
        actor=tech, batch=batches[2], to="closed", reason="All conditioned medium harvested"
    )
    discarded = services.culture_batch_create(
        actor=tech, cell_bank=banks[0], started_on=days_ago(15), reagent_lots=[medium]
    )
    services.move_culture_batch(
        actor=tech, batch=discarded, to="discarded", reason="Bacterial contamination seen at day 3"
    )

    runs = []
    for i, harvest in enumerate(harvests):
        started = now - timedelta(days=19 - i)
        runs.append(
            services.isolation_run_create(
                actor=tech,
                method="tff_sec",
                harvests=[harvest],
                input_volume_ml=Decimal("500"),
                output_volume_ml=Decimal("10"),
                operator=tech,
                equipment="KrosFlo KR2i TFF + qEV10",
                started_at=started,
                ended_at=started + timedelta(hours=5),
                parameters={"membrane_cutoff_kda": 300, "flow_rate_ml_min": 60},
                reagent_lots=[sec_column],
            )
        )

    boxes = []
    for box in ("B01", "B02"):
        for row in "ABCDE":
            for col in range(1, 5):
                boxes.append(
                    services.storage_location_create(
                        actor=tech, freezer="ULT-80-01", rack="R1", box=box, position=f"{row}{col}"
                    )
                )
    statuses = ["in_testing", "under_review", "in_process"]
    lots = []
    for i, run in enumerate(runs):
        lot = services.lot_create(
            actor=tech,
            isolation_runs=[run],
            manufactured_on=days_ago(18 - i),
            volume_ml=Decimal("10"),
        )
        services.aliquots_create(
            actor=tech, lot=lot, volume_ul=Decimal("500"), locations=boxes[i * 6 : (i + 1) * 6]
        )
        for to in {
            "in_process": [],
            "in_testing": ["in_testing"],
            "under_review": ["in_testing", "under_review"],
        }[statuses[i]]:
            services.lot_set_status(actor=tech, lot=lot, to=to, reason="Demo workflow")
        lots.append(lot)
    seed_quality_control(users, lots, batches)
    seed_reference_demo(users, lots, signer=_demo_signer)
    seed_stability(users, lots, _demo_signer)
    seed_training_and_custody(users, lots, _demo_signer)
    return True


# A mycoplasma qPCR as the bench records it: the call, with its no-template control (MIQE) and
# the efficiency of the run's standard curve (the run's validity criteria, assays 0013).
MYCOPLASMA_NOT_DETECTED = [
    {"analyte": "mycoplasma", "text_value": "not detected"},
    {"analyte": "ntc", "text_value": "no amplification"},
    {"analyte": "efficiency", "value": 98.6, "unit": "percent"},
]


def seed_quality_control(users, lots, batches):
    """Instruments, and results: lot 2 passes every test (ready for QA to sign), lot 1 has the
    real NanoSight bead export, whose low concentration opens an OOS investigation."""
    admin, tech, analyst = users[ADMIN], users[TECHNICIAN], users[ANALYST]
    today = timezone.localdate()
    instruments = {}
    for code, kind, make, model, assays in [
        ("NTA-01", "Nanoparticle tracking", "Malvern Panalytical", "NanoSight NS300", ["NTA"]),
        ("VICELL-01", "Cell counter", "Beckman Coulter", "Vi-CELL BLU", ["VIABILITY"]),
        ("PLATE-01", "Plate reader", "Agilent BioTek", "Synergy H1", ["BCA", "ENDOTOXIN"]),
        ("QPCR-01", "qPCR", "Applied Biosystems", "QuantStudio 5", ["MIRNA-QPCR", "MYCO"]),
    ]:
        instrument = qc.instrument_register(
            actor=admin,
            code=code,
            instrument_type=kind,
            make=make,
            model=model,
            serial_number=f"SN-{code}",
            location="QC laboratory",
            assay_codes=assays,
        )
        qc.instrument_log(
            actor=admin,
            instrument=instrument,
            kind="calibration",
            performed_on=today - timedelta(days=340),
            due_on=today + timedelta(days=25),
            performed_by="Vendor field service",
            certificate=f"CAL-{code}-2026",
        )
        instruments[code] = instrument

    # The QC reagents the catalogue requires (assays.AssayDefinition.required_reagents).
    qc_reagents = {
        category: services.reagent_lot_create(
            actor=tech,
            category=category,
            name=name,
            supplier=supplier,
            catalogue_number=catalogue_number,
            lot_number=lot_number,
            expiry_date=today + timedelta(days=150),
            received_on=today - timedelta(days=20),
        )
        for category, name, supplier, catalogue_number, lot_number in [
            (ReagentLot.Category.LAL_REAGENT, "Kinetic-QCL LAL", "Lonza", "50-650U", "LAL3391"),
            (ReagentLot.Category.BCA_KIT, "Pierce BCA kit", "Thermo Fisher", "23225", "BCA2207"),
            (
                ReagentLot.Category.QPCR_MASTER_MIX,
                "TaqMan Fast Advanced Master Mix",
                "Applied Biosystems",
                "4444557",
                "MM2611",
            ),
        ]
    }

    # Yesterday: recorded within BACKDATE_DAYS, so no late-entry reason is needed.
    started = timezone.now() - timedelta(days=1)
    passing_lot, oos_lot = lots[1], lots[0]

    def manual(assay, sample, rows, actor=tech):
        definition = qc.current_assay(assay)
        needed = definition.required_reagents
        start, ended = started, None
        if definition.minimum_days:  # sterility: started 14 days before its result
            ended = timezone.now() - timedelta(hours=2)
            start = ended - timedelta(days=definition.minimum_days, hours=1)
        qc.run_record(
            assay_code=assay,
            source="manual",
            started_at=start,
            ended_at=ended,
            actor=actor,
            results=[qc.ResultInput(sample=sample, **row) for row in rows],
            reagent_lots=[qc_reagents[category] for category in needed],
        )

    lot = passing_lot.code
    manual(
        "NTA",
        lot,
        [
            {
                "analyte": "concentration",
                "value": 2.4e11,
                "unit": "particle/mL",
                "replicate": str(i),
            }
            for i in (1, 2, 3)
        ]
        + [
            {"analyte": "mode_size", "value": 112 + i, "unit": "nm", "replicate": str(i)}
            for i in (1, 2, 3)
        ]
        + [{"analyte": "fraction_50_400", "value": 94.5, "unit": "percent"}],
    )
    manual(
        "BCA",
        lot,
        [{"analyte": "protein", "value": v, "unit": "ug/mL"} for v in (4.1, 4.3)]
        # The plate's 4PL standard curve as its software reports it (validity criteria).
        + [
            {"analyte": "curve_converged", "value": 1},
            {"analyte": "standards_in_tolerance_pct", "value": 100.0, "unit": "percent"},
        ],
    )
    manual(
        "EV-MARKERS",
        lot,
        [
            {"analyte": m, "text_value": "positive"}
            for m in ("CD9", "CD63", "CD81", "TSG101", "ALIX")
        ]
        + [{"analyte": "calnexin", "text_value": "negative"}],
    )
    manual("TEM", lot, [{"analyte": "morphology", "text_value": "conforms"}])
    manual(
        "ENDOTOXIN",
        lot,
        [
            {"analyte": "endotoxin", "value": 0.12, "unit": "EU/mL"},
            {"analyte": "spike_recovery", "value": 94.0, "unit": "percent"},
            {"analyte": "curve_r", "value": -0.996},
        ],
    )
    manual("STERILITY", lot, [{"analyte": "sterility", "text_value": "no growth"}])
    manual("MYCO", lot, MYCOPLASMA_NOT_DETECTED)
    manual(
        "POTENCY-MAC",
        lot,
        [
            {"analyte": a, "value": v, "unit": "pg/mL"}
            for a, v in [
                ("tnf_ev", 420),
                ("tnf_lps", 980),
                ("tnf_unstimulated", 45),
                ("il10_ev", 310),
                ("il10_lps", 120),
            ]
        ],
    )

    nta_file = Path(settings.BASE_DIR) / "tests" / "data" / "nta" / "nanosight_nta32_beads.csv"
    if nta_file.exists():
        received = qc.instrument_file_receive(
            data=nta_file.read_bytes(),
            filename=nta_file.name,
            sample_identifier=oos_lot.code,
            assay_code="NTA",
            instrument=instruments["NTA-01"],
        )
        # The export says "Not recorded" for its dilution, so the run counts only once an
        # analyst records the factor with a reason. The demo parses the file now (the queued task
        # then finds it parsed) so that the analyst can record it, as the run page lets them.
        nta_run = qc.instrument_file_parse(received.pk).runs.get()
        nta_dilution_record(
            actor=analyst,
            run=nta_run,
            dilution_factor=1,
            reason="Bead standard measured undiluted (bench record NTA-01, demo)",
        )
    for batch in batches[:2]:
        manual("VIABILITY", batch.code, [{"analyte": "viability", "value": 95.2, "unit": "%"}])
    # The source cells behind the passing lot pass the source-cell specification in full (its
    # release is gated on them); the other batches show what is still to be tested.
    for batch in CultureBatch.objects.filter(harvests__isolations__lots=passing_lot).distinct():
        if batch not in batches[:2]:
            manual("VIABILITY", batch.code, [{"analyte": "viability", "value": 95.2, "unit": "%"}])
        manual(
            "ISCT-FLOW",
            batch.code,
            [
                {"analyte": f"{m}_pct", "value": v, "unit": "percent"}
                for m, v in [("CD73", 99.1), ("CD90", 98.7), ("CD105", 97.9)]
                + [(m, 0.4) for m in ("CD45", "CD34", "CD14", "CD11b", "CD79a", "CD19", "HLA-DR")]
            ],
        )
        manual("MYCO-CB", batch.code, MYCOPLASMA_NOT_DETECTED)
        manual("STERILITY-CB", batch.code, [{"analyte": "sterility", "text_value": "no growth"}])
    # The analyst's second-person review of every run behind the passing lot, e-signed as the
    # run page does it (the demo password stands in for the one typed).
    reviewer = _demo_signer(analyst, Signature.Meaning.REVIEW)
    behind = AssayRun.objects.filter(
        Q(samples__lot=passing_lot)
        | Q(samples__culture_batch__harvests__isolations__lots=passing_lot)
    )
    for run in behind.distinct().order_by("pk"):
        qc.run_review(signer=reviewer, run=run, reason="Results and raw data reviewed.")
