"""The house's rules, checked: no import cycle between the rooms of `suite/` and
`frameworks/`, and no module over 400 lines (STYLE.md; the direction is in suite/__init__.py).

A room is a package under suite/ (suite.report, suite.serving, ...), a top-level module of
suite/ (suite.runner, ...) or frameworks/. Every import counts: at module level, inside a
function (a lazy import still ties the two rooms together) and under `if TYPE_CHECKING:`
(a type named from a higher room is a dependency on it too; state it as a Protocol).
"""
import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("suite", "frameworks")
MAX_LINES = 400


def room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "frameworks":
        return "frameworks"
    if parts[0] != "suite":
        return None
    if len(parts) >= 2 and (ROOT / "suite" / parts[1]).is_dir():
        return "suite." + parts[1]
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT / name.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def imported(tree: ast.AST) -> set[str]:
    """Every absolute import in `tree`, wherever it stands."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def room_graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in sources():
        src = room(module_name(path))
        for name in imported(ast.parse(path.read_text())):
            dst = room(name)
            if dst and dst != src and is_module(name):
                edges.setdefault(src, set()).add(dst)
    return edges


def test_the_rooms_import_each_other_in_one_direction_only():
    edges = room_graph()
    assert "suite.runner" in edges and "suite.report" in edges    # the graph was read
    try:
        list(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as e:
        cycle = e.args[1]
        raise AssertionError(f"import cycle between rooms: {' -> '.join(cycle)}; "
                             f"edges: {[(a, sorted(edges[a] & set(cycle))) for a in cycle]}")


def test_the_cycle_check_finds_a_cycle():
    tree = ast.parse("from suite.runner import Runner\nif TYPE_CHECKING:\n import suite.cli\n"
                     "def f():\n    import suite.report.page\n")
    assert imported(tree) == {"suite.runner", "suite.runner.Runner", "suite.report.page",
                              "suite.cli"}
    graph = {"suite.runner": {"suite.report"}, "suite.report": {"suite.runner"}}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        return
    raise AssertionError("a two-room cycle went unseen")


def test_no_module_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in sources()
            if (n := len(p.read_text().splitlines())) >= MAX_LINES}
    assert not long, f"modules of {MAX_LINES} lines or more: {long}"
