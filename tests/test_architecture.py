"""The package's shape: imports point downward only (the tiers of xpnet's package docstring), with
no import cycle anywhere, read from the source by an AST walk (imports inside functions count;
names imported under ``if TYPE_CHECKING:`` for type hints never run and do not)."""

import ast
import re
from pathlib import Path

import xpnet

PACKAGE = Path(xpnet.__file__).resolve().parent


def _type_checking_only(tree):
    """The nodes inside ``if TYPE_CHECKING:`` blocks."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(ast.walk(child))
    return skipped


def import_graph(package: Path) -> dict[str, set[str]]:
    """``{module: {module it imports}}`` for every module of ``package`` (names without the
    package, ``"__init__"`` for the package itself)."""
    modules = {p.stem for p in package.glob("*.py")}
    graph = {}
    for name in sorted(modules):
        tree = ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))
        skipped = _type_checking_only(tree)
        edges = set()
        for node in ast.walk(tree):
            if node in skipped:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level == 0 and not (node.module or "").startswith(package.name):
                    continue  # another library
                path = (node.module or "").split(".")[1 if node.level == 0 else 0:]
                path = [p for p in path if p]
                if path:  # from .x import y (or from xpnet.x import y)
                    edges.add(path[0])
                    continue
                for alias in node.names:  # from . import x, y
                    if alias.name in modules:
                        edges.add(alias.name)
                    elif alias.name != "__version__":  # a constant assigned before any import
                        edges.add("__init__")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == package.name:
                        edges.add(parts[1] if len(parts) > 1 else "__init__")
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One import cycle as a list ``[a, b, ..., a]``, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def tiers(doc: str) -> dict[str, int]:
    """``{module: tier}`` from the layout block of the package docstring (tier 0 at the top of
    the block, the ground)."""
    block = re.search(r"From the ground up.*?::\n\n(.*?)\n\n", doc, flags=re.S)
    assert block, "the package docstring lost its layout block"
    return {module.strip(): level for level, line in enumerate(block.group(1).splitlines())
            for module in line.split("·")}


def layering_violations(graph, tier) -> list[str]:
    """Imports of a module from a higher tier, and modules the layout does not place."""
    problems = [f"{m} is not placed in the layout" for m in graph if m != "__init__" and m not in tier]
    for module, edges in graph.items():
        for imported in edges:
            if module == "__init__":
                continue  # the facade: it re-exports from every tier
            if imported == "__init__":
                problems.append(f"{module} imports the package itself (a cycle through __init__)")
            elif imported in tier and module in tier and tier[imported] > tier[module]:
                problems.append(f"{module} (tier {tier[module]}) imports {imported} "
                                f"(tier {tier[imported]}): upward")
    return sorted(problems)


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert {"layers", "losses", "grad", "model", "train", "io"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_imports_point_downward_through_the_documented_tiers():
    assert layering_violations(import_graph(PACKAGE), tiers(xpnet.__doc__)) == []


def test_layers_and_losses_import_nothing_above_them():
    graph = import_graph(PACKAGE)
    tier = tiers(xpnet.__doc__)
    assert tier["layers"] == tier["losses"] < tier["grad"] < tier["train"] < tier["model"]
    assert graph["layers"] <= {"backend", "functional", "init"}, graph["layers"]
    assert graph["losses"] <= {"backend", "functional"}, graph["losses"]  # math, no layers
    assert "fuse" not in vars(xpnet.losses) and callable(xpnet.grad.fuse)


def test_the_checker_sees_an_import_inside_a_function(tmp_path):
    # the checker itself, on a planted cycle hidden at call time (as Sequential.fit had it)
    package = tmp_path / "xpnet"
    package.mkdir()
    (package / "__init__.py").write_text('__version__ = "0"\nfrom . import a\n')
    (package / "a.py").write_text("from . import __version__\nfrom .b import g\n")
    (package / "b.py").write_text("def g():\n    from .a import f\n    return f\n")
    graph = import_graph(package)
    assert graph == {"__init__": {"a"}, "a": {"b"}, "b": {"a"}}
    assert find_cycle(graph) == ["a", "b", "a"]
    assert layering_violations(graph, {"b": 0, "a": 1}) == ["b (tier 0) imports a (tier 1): upward"]
