"""Every ```python block of README.md and docs/*.md runs as written (issue 12).

The blocks of one file run in order, in one namespace (a block may use what an earlier one
defined), in a fresh interpreter with no ``XPNET_BACKEND`` set, as a reader's would be, in an empty
directory. A block whose first line is ``# docs-test: skip (reason)`` is not run: the marker is
visible to the reader and says why (a cluster, a GPU). Keep such blocks to a minimum.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = "# docs-test: skip"

RUNNER = """
import json, sys
ns = {"__name__": "__docs__"}
for path, line, code in json.load(sys.stdin):
    print(f"-- {path}:{line}", flush=True)
    exec(compile("\\n" * line + code, path, "exec"), ns)  # tracebacks give the file's own lines
"""


def python_blocks(path):
    """``[(line of the block's first code line - 1, code)]`` of the file's ```python blocks."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", path.read_text(), re.M | re.S):
        line = path.read_text()[:match.start()].count("\n") + 1
        blocks.append((line, match.group(1)))
    return blocks


def test_the_blocks_are_found_and_few_are_skipped():
    readme = python_blocks(ROOT / "README.md")
    assert len(readme) >= 10
    skipped = [line for path in DOCS for line, code in python_blocks(path)
               if code.startswith(SKIP)]
    assert len(skipped) <= 2, skipped  # a Dask scheduler elsewhere; NVIDIA GPUs with dask-cuda


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_block_runs_as_written(path, tmp_path):
    for module in ("torch", "sklearn"):  # the README's examples use them (the torch session has both)
        pytest.importorskip(module, reason=f"{path.name}'s blocks need {module}")
    blocks = [(str(path.relative_to(ROOT)), line, code) for line, code in python_blocks(path)
              if not code.startswith(SKIP)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPNET_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(blocks), text=True,
                          capture_output=True, cwd=tmp_path, env=env)
    started = [line[3:] for line in done.stdout.splitlines() if line.startswith("-- ")]
    assert done.returncode == 0, f"the block at {started[-1:]} failed:\n{done.stderr[-3000:]}"
    assert len(started) == len(blocks)
