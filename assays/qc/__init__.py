"""Pure quality-control mathematics for exosome manufacturing (NumPy/SciPy only, no Django).

Each module holds one family of calculations from DOMAIN.md §4: ``nta`` (size distributions),
``curves`` (4PL/5PL standard curves), ``qpcr`` (ΔΔCt, Pfaffl; ``qpcr_analysis`` as an assay
configures it), ``endotoxin`` (kinetic LAL), ``flow``
(% positive, ISCT identity), ``potency`` (macrophage bioassay),
``relative_potency`` (parallel 4PL, USP <1034>), ``westgard`` (multirule QC),
``capability`` (Cp/Cpk), ``stability`` and ``stability_pooling`` (ICH Q1E shelf life,
one batch and several), ``kinetics`` (onset times and rates of kinetic reads);
``worked_examples`` checks them against the published examples.

``ALGORITHM_VERSIONS`` names every algorithm with its version; code that stores a computed metric
records the version next to it. Bump a version whenever a change could alter a computed value.
"""

ALGORITHM_VERSIONS: dict[str, str] = {
    "nta.summary": "1.0",
    "nta.lot_summary": "1.0",
    "nta.fraction_in_window": "1.0",
    "curves.four_pl": "1.0",
    "curves.five_pl": "1.0",
    "qpcr.relative_quantity": "1.0",
    "qpcr.pfaffl_ratio": "1.0",
    "endotoxin.standard_curve": "1.0",
    # 1.1: onset times and rates from kinetic reads; a LAL standard without onset fails the plate
    "plate.compute": "1.1",
    "kinetics.onset_time": "1.0",
    "kinetics.mean_rate": "1.0",
    "endotoxin.spike_recovery": "1.0",
    "endotoxin.limit": "1.0",
    "flow.percent_positive": "1.0",
    "flow.isct_identity": "1.0",
    "flow.gated_percent_positive": "1.0",
    "potency.percent_inhibition": "1.0",
    "potency.fold_induction": "1.0",
    "potency.m2_m1_index": "1.0",
    "potency.relative_potency": "1.0",
    "westgard.multirule": "1.0",
    "capability.cp_cpk": "1.0",
    "stability.q1e_shelf_life": "1.0",
    "stability.q1e_poolability": "1.0",
}
