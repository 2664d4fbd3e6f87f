"""Every python block of README.md runs as written, each in a fresh process.

A block is complete on its own (imports, data, sizes that run in seconds), so a
reader can paste it into a file and run it; this test does exactly that under the
backend of the test run, in an empty working folder. A block for some backends
only is preceded by a line ``<!-- readme-test: backends jax tensorflow -->``.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(
    r"(?:^<!-- readme-test: backends (?P<backends>[a-z ]+) -->\n)?^```python\n(?P<code>.*?)^```",
    re.MULTILINE | re.DOTALL,
)


def python_blocks(text: str) -> list[tuple[int, str, tuple[str, ...] | None]]:
    """(line number, code, backends or None for all) of each ```python block."""
    blocks = []
    for match in BLOCK.finditer(text):
        line = text[: match.start("code")].count("\n")
        backends = match.group("backends")
        blocks.append((line, match.group("code"), tuple(backends.split()) if backends else None))
    return blocks


BLOCKS = python_blocks(README.read_text())


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 4


def test_block_finder_reads_fenced_python_only():
    text = (
        "intro\n```python\nprint(1)\n```\n```bash\nls\n```\n\n"
        "<!-- readme-test: backends jax tensorflow -->\n```python\nx = 2\n```\n"
    )
    assert python_blocks(text) == [
        (2, "print(1)\n", None),
        (10, "x = 2\n", ("jax", "tensorflow")),
    ]


@pytest.mark.parametrize(
    "line, code, backends", BLOCKS, ids=[f"README.md:{line}" for line, _, _ in BLOCKS]
)
def test_readme_block_runs(line, code, backends, tmp_path):
    if backends is not None and keras.backend.backend() not in backends:
        pytest.skip(f"README.md line {line} is for {', '.join(backends)}")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"README.md line {line} failed:\n{result.stderr[-3000:]}"
