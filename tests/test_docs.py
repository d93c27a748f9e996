"""Every Python and shell example in README.md and docs/ runs here, or says why it cannot.

An example that cannot run in the test suite (it needs the real data, a network, ImageNet
weights, a trained model of the reader's, or minutes of training) carries a marker on the
line before its fence::

    <!-- not run: needs the real data -->

Every other example runs: the Python blocks of a file in order, sharing one namespace
(as a reader pastes them), the shell blocks line by line; both in a temporary folder that
holds a small synthetic ``chest_xray/`` (train and test splits) and ``xray.jpeg``.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(python|bash)\s*$")
MARK = re.compile(r"^<!-- not run: (.+) -->$")
REASONS = ("needs the real data", "needs a network", "needs ImageNet weights", "needs a trained model",
           "trains for minutes", "needs a GPU", "installs packages", "continues an example that is not run",
           "is the test suite itself")


def examples(path):
    """``(line, language, code, reason)`` of each fenced Python or shell block; reason None if unmarked."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.match(before.strip())
        found.append((i + 1, fence.group(1), "\n".join(lines[i + 1:end]), mark and mark.group(1)))
        i = end + 1
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_marker_gives_a_known_reason(path):
    for line, _, _, reason in examples(path):
        assert reason is None or reason in REASONS, f"{path.name}:{line}: unknown reason {reason!r}"


@pytest.fixture
def workspace(tmp_path):
    from skpneumo.datasets import make_synthetic_xrays

    folder = tmp_path
    for split in ("train", "test"):
        make_synthetic_xrays(folder / "chest_xray", n_per_class=10, size=64, random_state=0, split=split)
    film = sorted((folder / "chest_xray" / "test" / "PNEUMONIA").iterdir())[0]
    shutil.copy(film, folder / "xray.png")
    os.rename(folder / "xray.png", folder / "xray.jpeg")  # the name the examples use; OpenCV reads by content
    return folder


def _shell_lines(code):
    for raw in code.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            yield line


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_the_unmarked_examples_run(path, workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    namespace = {"__name__": "__docs__"}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for line, language, code, reason in examples(path):
        if reason is not None:
            continue
        where = f"{path.name}:{line}"
        if language == "python":
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as exc:  # the example's own failure, named by its place
                pytest.fail(f"{where}: {type(exc).__name__}: {exc}")
        else:
            for command in _shell_lines(code):
                done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=300)
                assert done.returncode == 0, f"{where}: `{command}` failed:\n{done.stderr[-2000:]}"
