"""The folder layout is the architecture: each package imports only what its row below allows.

``PACKAGES`` is the one source of the layering: this test checks every import of every file
against it (``import minicompress.x``, ``from minicompress.x import y``, ``from minicompress
import x``, relative imports, imports inside functions), CONTRIBUTING.md's table is checked
against it (``python tests/test_architecture.py`` prints the table to paste), and the files'
module-level imports must have no cycle. The planted-import tests prove the checks catch what
they claim, on a temporary copy of the package.
"""

import ast
import shutil
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

ROOT = Path(__file__).parent.parent
PACKAGE = ROOT / "minicompress"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"

ROOT_UNIT = "minicompress"  # the package's own __init__.py


# name: (layer, what lives there, the minicompress packages it may import). A name is a
# subpackage (``engine`` for ``minicompress/engine/``) or a top-level module (``rng`` for
# ``minicompress/rng.py``). "<layers 0-N>" means every package of layers 0 to N. Packages
# that do not exist (yet) in a branch are allowed: the table also holds the planned ones.
PACKAGES = {
    ROOT_UNIT: (0, "`minicompress/__init__.py`: `manual_seed`, `initial_seed` (from `rng`), "
                   "`set_num_threads`, `get_num_threads` (from `kernels.threads`), on first use",
                ("rng", "kernels")),
    "errors": (0, "`InputError` (a `ValueError`) and `InputTypeError`: the one error type for bad user input",
               ()),
    "rng": (0, "the package generator: `manual_seed`, `seed=None` draws from it; seed/Generator -> Generator",
            ("errors",)),
    "kernels": (0, "**the engine's fast backend**: Numba kernels on plain arrays (int8 GEMM, CSR x dense, "
                   "im2col, fused Adam, conv/pool, the threads conv splits a batch over) and their NumPy oracles",
                ("errors",)),
    "data": (0, "mnist10k (shipped), IDX / CIFAR-10 readers, `DataLoader`, transforms; NumPy arrays only",
             ("errors", "rng")),
    "engine": (1, "`Tensor`, `Function`, the ops, `conv2d`/`max_pool2d`, `gradcheck`; runs on `kernels` "
                  "where they are faster", ("errors", "rng", "kernels")),
    "nn": (2, "`Module`, `Parameter`, layers, initializers, losses", ("errors", "rng", "engine")),
    "optim": (2, "SGD, Adam (NumPy; `fused=True` runs `kernels.adam`), learning-rate schedules",
              ("errors", "engine", "nn", "kernels")),
    "equations": (3, "E1-E9 exactly as the documents write them, and the learners' checker",
                  ("errors", "rng", "engine", "nn")),
    "models": (3, "the model zoo: `build(name, seed=...)`", ("<layers 0-2>",)),
    "io": (3, "`.npz` save/load of models (no pickle, atomic write)", ("<layers 0-2>",)),
    "training": (3, "`fit`/`evaluate`/`predict`", ("<layers 0-2>",)),
    "pretrained": (3, "trained zoo models, cached by checksum", ("<layers 0-2>", "models", "io", "training")),
    "compress": (4, "the techniques: `pruning/`, `quantization/`, `weights.py`, `bitpack.py`, `relative_csr.py`, "
                    "`sparse_inference.py`, `kmeans.py`, `huffman.py`, `packing.py`, `deep_compression.py`, "
                    "`kd_loss.py`, `distill.py`, `hints.py`, `transfer.py`, `documents_distill.py` (what a technique "
                    "returns: `minicompress/compress/__init__.py`)", ("<layers 0-3>",)),
    "demo": (5, "the demo's stages, table, `report.json` and plots", ("<layers 0-4>",)),
    "course": (5, "the course companion", ("<layers 0-4>",)),
    "interop": (5, "ONNX export and safetensors import", ("<layers 0-4>",)),
    "cli": (6, "the `minicompress` command, one module per subcommand", ("<layers 0-5>",)),
}


def allowed(name: str) -> set[str]:
    """The packages ``name`` may import (itself included)."""
    out = {name}
    for dep in PACKAGES[name][2]:
        if dep.startswith("<layers 0-"):
            top = int(dep.removeprefix("<layers 0-").removesuffix(">"))
            out |= {n for n, (layer, _, _) in PACKAGES.items() if layer <= top}
        else:
            out.add(dep)
    return out


# --------------------------------------------------------------------------- reading imports
def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """``minicompress.engine.ops`` -> ``engine``; ``minicompress`` -> the root unit."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT_UNIT


def _module_level(tree):
    """The import nodes that run when the module is imported (not in functions, nor TYPE_CHECKING)."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imports(path: Path, package: Path, modules: set[str], module_level_only: bool = False):
    """``(imported minicompress module, line)`` for every import in the file, every form.

    ``from X import a`` names the module ``X.a`` when that is a module, else ``X``; a
    relative import is resolved against the file's own package.
    """
    me = module_name(path, package)
    own_package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = _module_level(tree) if module_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == package.name:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = own_package.split(".")
                if node.level - 1 >= len(base):
                    raise AssertionError(f"{path}:{node.lineno}: relative import beyond the package")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            if source.split(".")[0] != package.name:
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                yield (full if full in modules else source), node.lineno


def _modules(package: Path) -> dict[str, Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def layer_violations(package: Path = PACKAGE) -> list[str]:
    modules = _modules(package)
    problems = []
    for mod, path in modules.items():
        own = unit_of(mod)
        if own not in PACKAGES:
            problems.append(f"{path.relative_to(package.parent)}: package {own!r} is not in PACKAGES "
                            "(add it, with its layer, to tests/test_architecture.py and CONTRIBUTING.md)")
            continue
        ok = allowed(own)
        for target, line in imports(path, package, set(modules)):
            dep = unit_of(target)
            if dep not in ok:
                layer = PACKAGES[dep][0] if dep in PACKAGES else "?"
                problems.append(f"{path.relative_to(package.parent)}:{line}: {own} (layer {PACKAGES[own][0]}) "
                                f"imports {target} ({dep}, layer {layer}); {own} may import "
                                f"{', '.join(sorted(ok - {own})) or 'nothing'}")
    return problems


def import_cycles(package: Path = PACKAGE) -> list[list[str]]:
    """Strongly connected groups of files whose module-level imports form a cycle (Tarjan)."""
    modules = _modules(package)
    graph = {m: sorted({t for t, _ in imports(p, package, set(modules), module_level_only=True)
                        if t in modules and t != m})
             for m, p in modules.items()}
    index, low, on_stack, stack, cycles, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in graph:
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return cycles


# --------------------------------------------------------------------------- the table
def render_table() -> str:
    def deps(name):
        shown = []
        for d in PACKAGES[name][2]:
            shown.append(d.strip("<>") if d.startswith("<") else f"`{d}`")
        return ", ".join(shown) or "nothing"

    def where(name):
        if name == ROOT_UNIT:
            return "`minicompress/__init__.py`"
        if (PACKAGE / f"{name}.py").exists():
            return f"`minicompress/{name}.py`"
        return f"`minicompress/{name}/`"

    rows = ["| layer | package | what lives there | may import (besides its own files) |",
            "|---|---|---|---|"]
    for name, (layer, what, _) in sorted(PACKAGES.items(), key=lambda kv: kv[1][0]):
        if name == ROOT_UNIT:
            what = what.split(": ", 1)[1]
        rows.append(f"| {layer} | {where(name)} | {what} | {deps(name)} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- tests
def test_every_import_follows_the_layers():
    problems = layer_violations()
    assert not problems, "\n".join(problems)


def test_no_import_cycles_between_files():
    cycles = import_cycles()
    assert not cycles, "module-level import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_every_allowed_dependency_is_a_lower_or_equal_layer():
    for name, (layer, _, _) in PACKAGES.items():
        for dep in allowed(name):
            assert PACKAGES[dep][0] <= layer, f"{name} (layer {layer}) may not depend on {dep}"


def test_contributing_shows_the_table_of_this_test():
    if render_table() not in CONTRIBUTING.read_text():
        pytest.fail("CONTRIBUTING.md's layer table differs from PACKAGES in tests/test_architecture.py; "
                    "paste the output of `python tests/test_architecture.py`")


PLANTS = {
    "kernels/_planted.py": "from minicompress import demo\n",
    "engine/_planted.py": "from ..compress import sparse\n",
    "data/_planted.py": "def load():\n    import minicompress.kernels.gemm as g\n    return g\n",
    "nn/_planted.py": "from .. import cli\n",
    "data/_planted_from.py": "from minicompress.kernels.gemm import gemm_s8s8s32\n",
}


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory):
    dest = tmp_path_factory.mktemp("layers") / "minicompress"
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__", "*.gz", "*.md", "*.png"))
    assert layer_violations(dest) == [] and import_cycles(dest) == []
    return dest


@pytest.fixture
def package_copy(clean_copy):
    """The module's copy of the package; whatever a test plants in it is removed afterwards."""
    before = {p: p.read_bytes() for p in clean_copy.rglob("*.py")}
    yield clean_copy
    for p in clean_copy.rglob("*"):
        if p.is_file() and p not in before:
            p.unlink()
    for p in sorted(clean_copy.rglob("*"), reverse=True):
        if p.is_dir() and not any(p.iterdir()):
            p.rmdir()
    for p, data in before.items():
        if p.read_bytes() != data:
            p.write_bytes(data)


@pytest.mark.parametrize("where", sorted(PLANTS))
def test_a_planted_import_is_caught(package_copy, where):
    """issue 12: these passed the old test (it saw only absolute ``minicompress.x`` imports)."""
    (package_copy / where).write_text(PLANTS[where])
    problems = layer_violations(package_copy)
    assert len(problems) == 1 and problems[0].startswith(f"minicompress/{where}:"), problems


def test_a_planted_cycle_is_caught(package_copy):
    tensor = package_copy / "engine" / "tensor.py"
    tensor.write_text(tensor.read_text() + "\nfrom minicompress.engine import ops  # noqa\n")
    assert ["minicompress.engine.ops", "minicompress.engine.tensor"] in import_cycles(package_copy)


def test_a_planted_unknown_package_is_caught(package_copy):
    (package_copy / "extras").mkdir()
    (package_copy / "extras" / "__init__.py").write_text("")
    assert "package 'extras' is not in PACKAGES" in "\n".join(layer_violations(package_copy))


if __name__ == "__main__":
    print(render_table())
