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


def imports_of(path, module, modules):
    """The keras_rk modules that `module` (source at `path`) imports anywhere,
    function bodies included; `from keras_rk import x` counts as keras_rk.x."""
    import ast

    found = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                )
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != "keras_rk" and name != module:
                found.add(name)
    return found


def test_no_import_cycle_inside_the_package_function_level_imports_included():
    # Data flows one way (data sets -> layers/models -> training -> studies ->
    # reports and figures -> command line); a cycle, even one hidden in a function
    # body, means two modules each need the other to be understood.
    import pkgutil
    from pathlib import Path

    root = Path(keras_rk.__file__).parent
    paths = {"keras_rk": root / "__init__.py"}
    for info in pkgutil.walk_packages(keras_rk.__path__, prefix="keras_rk."):
        relative = Path(*info.name.split(".")[1:])
        paths[info.name] = (
            root / relative / "__init__.py" if info.ispkg else (root / relative).with_suffix(".py")
        )
    graph = {name: imports_of(path, name, paths) for name, path in paths.items()}

    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                # A package's __init__ re-exporting its submodules is not a cycle.
                if nxt not in seen and not start.startswith(nxt + "."):
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    cycles = sorted(name for name in graph if name in reachable(name))
    assert not cycles, {name: sorted(graph[name]) for name in cycles}
    assert "keras_rk.studies.figures" in graph["keras_rk.studies.runner"]
    assert not any(name.startswith("keras_rk.studies") for name in graph["keras_rk.plotting"])
