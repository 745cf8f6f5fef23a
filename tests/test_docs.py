"""Every code block of README.md and docs/**/*.md is checked (issues 12 and 13).

- ```python blocks run as written. The blocks of one file run in order, in one namespace (a block
  may use what an earlier one defined), in a fresh interpreter with no ``XPNET_*`` variable set, as
  a reader's would be, in an empty directory. As the session's backend changes nothing for them,
  they run in the numpy and torch sessions only (and with no ``XPNET_BACKEND``), a file whose
  blocks use an optional library (torch, scikit-learn, ndonnx, dask) where it is installed; a test
  checks that each file runs in one of them. A block whose first line is
  ``# docs-test: skip (reason)`` is not run: the marker is visible to the reader and says why (a
  cluster, a GPU); the test counts them.
- A ```text block right after a python block that prints is that block's output: each of its lines
  must be among the lines printed now, numbers masked (they depend on the BLAS) and rows of
  backends this session lacks excepted. The outputs of ``explain`` and ``summary`` shown after
  prose are compared with what they print now.
- ```bash blocks: every ``xpnet ...`` command is parsed by the command's own argument parser, and
  every script a command names exists. README's two commands themselves run in CI: the second is
  what CI runs, and ``nox -s package`` installs the wheel and runs ``xpnet train``.
"""

import argparse
import ast
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import xpnet
from xpnet.explain import explain, summary

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SKIP = "# docs-test: skip"
TOP_COMMANDS = """\
# 1. install and run the main job: train the 2-5-5-1 sigmoid network of the classic question on two moons
python3 -m venv .venv && . .venv/bin/activate && pip install ".[plot,progress]" && xpnet train

# 2. install and pass the tests: one session per backend (numpy, array_api_strict, torch, the CuPy stand-in; \
cupy skips without a GPU), the GPU-script rehearsal, lint, the docs site (warnings are errors), \
and the wheel built and installed
python3 -m pip install nox && python3 -m nox
"""
# The blocks run with no XPNET_* variable set, so a session's backend changes nothing for them: they
# run in these nox sessions only (as do tests run with no XPNET_BACKEND), each file where its
# optional libraries are installed.
RUN_IN = ("numpy", "torch")
HERE = os.environ.get("XPNET_BACKEND", "numpy") in RUN_IN
# What a file's blocks use, found in their code, and the pyproject extra that installs it.
OPTIONAL = {  # module: (how the blocks use it, extra)
    "torch": (r'\bimport torch\b|"torch"', "torch"),
    "sklearn": (r"\bsklearn\b", "sklearn"),
    "ndonnx": (r"export_onnx", "onnx"),
    "onnxruntime": (r"\bonnxruntime\b", "onnx"),
    "distributed": (r"\bdask\b|\bdistributed\b", "dask"),
}

RUNNER = """
import contextlib, io, json, os, sys, traceback
results = {}
for index, (path, run) in enumerate(json.load(sys.stdin)):
    os.mkdir(str(index))
    os.chdir(str(index))  # each file in an empty folder of its own, with a namespace of its own
    ns, printed, error = {"__name__": "__docs__"}, [], None
    for line, code in run:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile("\\n" * line + code, path, "exec"), ns)  # tracebacks give the file's lines
        except BaseException:
            error = f"the block at {path}:{line + 1} failed:\\n{traceback.format_exc()[-3000:]}"
            break
        finally:
            printed.append(out.getvalue())
    results[path] = {"printed": printed, "error": error}
    os.chdir("..")
with open("results.json", "w") as file:
    json.dump(results, file)
"""


def blocks(path):
    """``[(language, line of the block's first code line - 1, code, text since the last block)]``."""
    text, found, end = path.read_text(encoding="utf-8"), [], 0
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
        line = text[:match.start()].count("\n") + 1
        found.append((match.group(1), line, match.group(2), text[end:match.start()]))
        end = match.end()
    return found


def python_blocks(path):
    return [(line, code) for lang, line, code, _ in blocks(path) if lang == "python"]


def needs(path):
    """The optional modules a file's python blocks use."""
    code = "".join(code for _, code in python_blocks(path) if not code.startswith(SKIP))
    return sorted(module for module, (pattern, _) in OPTIONAL.items() if re.search(pattern, code))


def test_readme_starts_with_the_two_commands():
    kinds = [lang for lang, *_ in blocks(ROOT / "README.md")]
    first = blocks(ROOT / "README.md")[0]
    assert first[0] == "bash" and first[2] == TOP_COMMANDS, "README's first code block changed"
    assert "```" not in first[3] and first[3].startswith("# xpnet\n")  # only the pitch before it
    assert kinds.count("python") >= 2  # the tour
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_readme_links_lead_to_files_that_exist():
    """mkdocs --strict checks the site's links; README is outside it (GitHub and PyPI show it)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 10  # the table of pages
    assert not [link for link in local if not (ROOT / link).is_file()], local
    assert blocks(ROOT / "docs" / "index.md")[0][2] == TOP_COMMANDS  # the site's home page shows them too


def test_the_blocks_are_found_and_few_are_skipped():
    assert len([p for p in DOCS if python_blocks(p)]) >= 10
    assert sum(len(python_blocks(p)) for p in DOCS) >= 18
    skipped = [f"{path.name}:{line}" for path in DOCS for line, code in python_blocks(path)
               if code.startswith(SKIP)]
    assert len(skipped) <= 2, skipped  # a Dask scheduler elsewhere; NVIDIA GPUs with dask-cuda
    languages = {lang for path in DOCS for lang, *_ in blocks(path)}
    assert languages <= {"python", "bash", "text", ""}, languages  # each kind has its check here


def test_every_file_runs_in_a_default_nox_session():
    """A file needing both torch and ONNX, say, would run in neither session: its blocks never run."""
    noxfile = ROOT / "noxfile.py"
    if not noxfile.exists():
        pytest.skip("no noxfile.py (an sdist)")
    tree = ast.parse(noxfile.read_text(encoding="utf-8"))
    sessions = next(ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                    and getattr(node.targets[0], "id", None) == "BACKENDS")
    extras = [set(re.search(r"\[(.*)\]", sessions[name][-1]).group(1).split(",")) for name in RUN_IN]
    for path in DOCS:
        wanted = {OPTIONAL[module][1] for module in needs(path)}
        assert any(wanted <= have for have in extras), f"{path.name} needs {wanted}: no session has all"


def _masked(text):
    """Lines with numbers as ``#`` and runs of spaces as one: what the BLAS cannot change."""
    number = r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:e[-+]?\d+)?%?"
    return [re.sub(r"\s+", " ", re.sub(number, "#", line)).strip() for line in text.splitlines()
            if line.strip()]


def _runnable(path):
    return HERE and all(importlib.util.find_spec(module) for module in needs(path))


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Every runnable file's python blocks, run in one fresh interpreter (imports paid once)."""
    if not HERE:
        return {}
    tmp = tmp_path_factory.mktemp("docs")
    run = [(str(path.relative_to(ROOT)), [(line, code) for line, code in python_blocks(path)
                                          if not code.startswith(SKIP)])
           for path in DOCS if python_blocks(path) and _runnable(path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPNET_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(run), text=True,
                          capture_output=True, cwd=tmp, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((tmp / "results.json").read_text())


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p)],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_block_runs_as_written(path, ran):
    if not HERE:
        pytest.skip(f"the docs' blocks ignore XPNET_BACKEND: they run in the {' and '.join(RUN_IN)} sessions")
    for module in needs(path):
        pytest.importorskip(module, reason=f"{path.name}'s blocks need {module}")
    run = [(line, code) for line, code in python_blocks(path) if not code.startswith(SKIP)]
    result = ran[str(path.relative_to(ROOT))]
    assert result["error"] is None, result["error"]
    printed = result["printed"]
    assert len(printed) == len(run)

    # the output shown after a block that prints is what it prints now
    outputs, printed_by_line = 0, dict(zip((line for line, _ in run), printed, strict=True))
    found = blocks(path)
    for (lang, line, _, _), (next_lang, _, shown, between) in zip(found, found[1:], strict=False):
        if lang == "python" and next_lang == "text" and not between.strip() and printed_by_line.get(line):
            outputs += 1
            now = set(_masked(printed_by_line[line]))
            missing = [row for row in _masked(shown) if row not in now
                       and not re.search(r"\b(torch|jax|cupy|dask|array_api_strict):", row)]
            assert not missing, f"{path.name}:{line}: the output shown is not printed now: {missing}"
    if path.name == "explain.md":
        assert outputs == 3  # explain, diagnose's report, check_backends


def test_outputs_shown_after_prose_are_printed_now():
    text = (ROOT / "docs" / "explain.md").read_text(encoding="utf-8")
    shown = [code for lang, _, code, _ in blocks(ROOT / "docs" / "explain.md") if lang == "text"]
    model = xpnet.mlp([2, 5, 5, 1], activation="sigmoid", output="sigmoid", backend="numpy")  # as a reader
    assert str(summary(model)).strip() in [code.strip() for code in shown]
    both = str(explain(model, batch_size=32, convention="both")).splitlines()
    excerpt = next(code for code in shown if "| Z1 = W1 @ X + b1" in code)
    assert all(line in both for line in excerpt.splitlines()), excerpt
    assert 'convention="both"' in text


def _commands(code):
    """Each simple command of a bash block: continuations joined, comments, redirections and
    ``&&``/``|`` split off."""
    code = code.replace("\\\n", " ")
    for line in code.splitlines():
        words = shlex.split(line, comments=True)
        command, redirected = [], False
        for word in [*words, "&&"]:
            if word in ("&&", "|", "||", ";"):
                if command:
                    yield command
                command = []
            elif word in (">", ">>", "<"):
                redirected = True
            elif not redirected:
                command.append(word)
            redirected = False if word not in (">", ">>", "<") else redirected


KNOWN = {"pip", ".", "nox", "dask", "mkdocs", "source"}  # run by CI's nox or need a cluster


def test_every_shell_command_parses_and_names_files_that_exist(capsys):
    from xpnet.cli import _parser

    parser, seen = _parser(), set()
    for command in [parser, *(sub for action in parser._actions
                              if isinstance(action, argparse._SubParsersAction)
                              for sub in action.choices.values())]:
        command.allow_abbrev = False  # a renamed option must not pass as an abbreviation
    for path in DOCS:
        for lang, line, code, _ in blocks(path):
            if lang != "bash":
                continue
            for words in _commands(code):
                program, args = words[0], words[1:]
                where = f"{path.name}:{line}: {' '.join(words)}"
                seen.add(program)
                if program == "xpnet":
                    try:
                        parser.parse_args(args)
                    except (SystemExit, Exception) as error:  # the command's own usage error
                        pytest.fail(f"{where}: {error} {capsys.readouterr().err}")
                elif program in ("python", "python3", "bash"):
                    if args[0] == "-m":
                        assert importlib.util.find_spec(args[1]) or args[1] in ("venv", "nox"), where
                    else:
                        assert (ROOT / args[0]).is_file(), where
                else:
                    assert program in KNOWN, f"{where}: a command this test does not check"
    assert "xpnet" in seen
