"""The folder layout is the architecture: a module imports only its own layer or lower ones."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.engine

PACKAGE = Path(__file__).parent.parent / "minicompress"

LAYERS = {
    "rng": 0, "errors": 0, "kernels": 0, "data": 0,
    "engine": 1,
    "nn": 2, "optim": 2,
    "equations": 3, "models": 3, "io": 3, "training": 3, "pretrained": 3,
    "compress": 4,
    "demo": 5, "interop": 5,
    "cli": 6,
}


def top_part(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imported_parts(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "minicompress" and len(parts) > 1:
                yield parts[1], node.lineno


def test_every_module_belongs_to_a_layer():
    unknown = {top_part(p) for p in PACKAGE.rglob("*.py")} - set(LAYERS) - {"__init__"}
    assert not unknown, f"add these to LAYERS (and to CONTRIBUTING.md): {sorted(unknown)}"


def test_lower_layers_never_import_higher_ones():
    violations = []
    for path in PACKAGE.rglob("*.py"):
        own = top_part(path)
        if own == "__init__":
            continue
        for part, line in imported_parts(path):
            if LAYERS.get(part, -1) > LAYERS[own]:
                violations.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({own}, layer {LAYERS[own]}) "
                                  f"imports {part} (layer {LAYERS[part]})")
    assert not violations, "\n".join(violations)
