import subprocess
import sys

import keras_rk


def test_public_api():
    for name in (
        "build",
        "ButcherTableau",
        "RKBlock",
        "StandardBlock",
        "Augment",
        "available_tableaus",
        "get_tableau",
        "register_tableau",
    ):
        assert hasattr(keras_rk, name), name


def test_import_adds_no_heavy_packages_beyond_keras():
    # Plotting, scikit-learn and tensorflow_datasets load only when used: after
    # `import keras`, importing keras_rk may add keras_rk's own modules and
    # nothing else (stdlib included, the set is empty here).
    code = (
        "import sys, keras; before = {m.split('.')[0] for m in sys.modules}; "
        "import keras_rk; "
        "after = {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(after - before - {'keras_rk'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
