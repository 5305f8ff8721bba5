"""The shape of the code: the module graph of src/hms is acyclic (imports inside functions included), every import
goes down the layer diagram, imports inside functions only defer heavy optional dependencies (with a comment), and
no module but hms.experiment.folder spells a file name of models/<experiment>/."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "hms"

#: bottom to top; a module may import its own layer or lower ones, never a higher one
LAYERS: list[tuple[str, ...]] = [
    (
        "hms",
        "hms.constants",
        "hms.errors",
        "hms.io",
        "hms.paths",
        "hms.timing",
        "hms.metric",
        "hms.config",
        "hms.leaderboard",
    ),
    ("hms.data",),
    ("hms.signal", "hms.synth", "hms.plots"),
    ("hms.models", "hms.gbm"),
    ("hms.families",),
    ("hms.experiment", "hms.inputs", "hms.evaluation"),
    ("hms.predict",),
    ("hms.train", "hms.baselines", "hms.embed", "hms.sae", "hms.stack", "hms.clip", "hms.submit", "hms.blend"),
    ("hms.explain", "hms.infer", "hms.kaggle"),
    ("hms.__main__", "hms.commands"),
]

#: file names that live in models/<experiment>/ (only hms.experiment.folder may spell them)
EXPERIMENT_FILES = (
    "prior.json",
    "folds.csv",
    "config.yaml",
    "oof.parquet",
    "scores.csv",
    "rows.parquet",
    "hand.parquet",
    "best.json",
    "ablation.csv",
    "metrics.json",
    "metrics.csv",
    "oof_rows.parquet",
    "k_curve",
    "density.png",
    "reconstructions.png",
    ".state.pt",
    "positions.json",
    "recovery.csv",
    "codes_fold",
)
EXPERIMENT_SUBFOLDERS = ("embeddings", "sae", "stack", "clip")


def layer_diagram() -> str:
    """The README's layer diagram, rendered from ``LAYERS`` (top layer first; packages end in '/')."""
    lines = []
    for i in reversed(range(len(LAYERS))):
        names = [m.removeprefix("hms.") for m in LAYERS[i] if m != "hms"]
        names = [n + "/" if (PKG / n.replace(".", "/")).is_dir() else n for n in names]
        lines.append(f"{i:>2}  " + "  ".join(names))
    return "```\n" + "\n".join(lines) + "\n```\n"


def test_the_readme_diagram_is_the_layer_list():
    readme = (SRC.parent / "README.md").read_text()
    assert layer_diagram() in readme, "README.md: paste tests.test_architecture.layer_diagram() into Architecture"


def modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                if t.split(".")[0] != "hms":
                    continue
                r = resolve(t, mods)
                if r and r != m and not m.startswith(r + "."):  # a package's own __init__ is not an edge
                    graph[m].add(r)
    return graph


def layer_of(module: str) -> int:
    best = None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > len(best[1])):
                best = (i, p)
    assert best is not None, f"{module} has no layer in LAYERS: add it"
    return best[0]


def test_module_graph_has_no_cycle():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(trail[trail.index(t) :] + [t] if t in trail else [m, t])
            elif t not in state:
                visit(t, [*trail, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import cycles: {cycles}"


def test_imports_only_go_down_the_layers():
    up = [(m, t) for m, targets in import_graph().items() for t in targets if layer_of(t) > layer_of(m)]
    assert not up, "imports of a higher layer: " + ", ".join(f"{m} -> {t}" for m, t in up)


def test_imports_inside_functions_say_why():
    """An import inside a function must defer a heavy optional dependency, said in a comment on its line (the CLI
    commands defer each stage's import, with one note for the group of imports below it)."""
    silent = []
    for m, path in modules().items():
        lines = path.read_text().splitlines()
        for func in ast.walk(ast.parse(path.read_text())):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    line = lines[node.lineno - 1]
                    cli = m == "hms.__main__" or m.startswith("hms.commands")
                    if "deferred" not in line and not (cli and _cli_group(lines, node.lineno)):
                        silent.append(f"{m}:{node.lineno}: {line.strip()}")
    assert not silent, "imports inside functions without a 'deferred: why' comment:\n" + "\n".join(silent)


def _cli_group(lines: list[str], lineno: int) -> bool:
    """In a command module, an import directly below the handler's first (commented) deferred import."""
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith(("from ", "import ")):
        if "deferred" in lines[i]:
            return True
        i -= 1
    return False


def _string_constants(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            out.append((node.lineno, text))
    return out


def test_only_the_experiment_folder_owner_names_its_files():
    owner = PKG / "experiment" / "folder.py"
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        if path == owner:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            else:
                continue
            if " " in text.strip() or text.startswith("files/"):
                continue  # a message or help text that mentions a file, or the files/ folder: not a path being built
            if any(name in text for name in EXPERIMENT_FILES) or text.startswith(("fold{}.", "fold*.")):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {text!r}")
        for node in ast.walk(tree):  # exp_dir / "sae" and the like
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant):
                if node.right.value in EXPERIMENT_SUBFOLDERS:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: / {node.right.value!r}")
    assert not offenders, "experiment-folder file names outside hms.experiment.folder:\n" + "\n".join(offenders)


@pytest.mark.parametrize("module", ["hms.predict", "hms.infer", "hms.embed"])
def test_inference_layers_import_no_training_code(module):
    """Test-time code never reaches into the training loop (the general inference pieces live below it)."""
    graph = import_graph()
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(graph[m])
    assert not {m for m in seen if m.startswith("hms.train")}, sorted(m for m in seen if m.startswith("hms.train"))
