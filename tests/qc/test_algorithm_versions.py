import importlib
import re

from assays.qc import ALGORITHM_VERSIONS


def test_every_algorithm_names_an_existing_module_and_a_version():
    for name, version in ALGORITHM_VERSIONS.items():
        module, _, algorithm = name.partition(".")
        assert algorithm, name
        importlib.import_module(f"assays.qc.{module}")
        assert re.fullmatch(r"\d+\.\d+", version), (name, version)


def test_the_qc_package_does_not_import_django():
    import subprocess
    import sys

    code = (
        "import sys, assays.qc.capability, assays.qc.curves, assays.qc.endotoxin, "
        "assays.qc.flow, assays.qc.nta, assays.qc.potency, assays.qc.qpcr, "
        "assays.qc.westgard, assays.qc.worked_examples; "
        "print('django' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
