"""docs/plugins.md stays true: its commands run, its outputs are what the commands print, and every
hook, check and plugin control is documented.

The tutorial runs as one bash script in a temp folder, in order: ```bash blocks are commands,
blocks whose first line is ``# file: PATH`` are written to PATH (relative to the current folder
at that point), other ```python blocks run with ``python``, and a ```text block after
``<!-- output -->`` must appear in the stdout of the bash block before it.  A block after
``<!-- skip-test: reason -->`` is not run (allowed only while ``envlearn train`` does not exist).

``pip install -e .`` in the tutorial installs into a throwaway venv layered over the running
one (a .pth adds its site-packages), offline and without build isolation; the running
environment is never modified.  Runtime: about 10 s.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
import sysconfig
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import envlearn.hookspecs
import envlearn.plugins
from envlearn.testing import CHECKS, check_adapter

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FILE_RE = re.compile(r"^#\s*file:\s*(\S+)\s*$")
MARKER_RE = re.compile(r"^<!--\s*([a-z-]+)(?::\s*(.*?))?\s*-->$")
BLOCK_START = "@@envlearn-doc-block {}@@"
EOF_TAG = "__ENVLEARN_DOC_EOF__"


@dataclass
class Block:
    """One fenced block of the page: its language, text, the marker before it, its line."""

    lang: str
    text: str
    marker: str | None
    reason: str | None
    line: int

    @property
    def file(self) -> str | None:
        first = self.text.split("\n", 1)[0]
        m = FILE_RE.match(first)
        return m.group(1) if m else None


def parse_blocks(markdown: str) -> list[Block]:
    """Every fenced block, with the ``<!-- marker -->`` on the last non-blank line before it."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i, last = 0, ""
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang, start, body = line[3:].strip(), i + 1, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            m = MARKER_RE.match(last.strip())
            blocks.append(
                Block(
                    lang,
                    "\n".join(body) + "\n",
                    m.group(1) if m else None,
                    m.group(2) if m else None,
                    start,
                )
            )
            last = ""
        elif line.strip():
            last = line
        i += 1
    return blocks


def section(markdown: str, heading: str) -> str:
    """The text of a ``## heading`` section, up to the next ``## ``."""
    start = markdown.index(f"\n## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end >= 0 else len(markdown)]


def tutorial_script(blocks: list[Block]) -> str:
    """The page's runnable blocks as one bash script, in order."""
    out = ["set -euo pipefail"]
    for n, b in enumerate(blocks):
        if b.marker == "skip-test":
            continue
        if b.file:
            out.append(f'mkdir -p "$(dirname {b.file!r})"')
            out.append(f"cat > {b.file!r} <<'{EOF_TAG}'\n{b.text}{EOF_TAG}")
        elif b.lang == "bash":
            out.append(f"echo {BLOCK_START.format(n)!r}")
            out.append(b.text)
        elif b.lang == "python":
            out.append(f"echo {BLOCK_START.format(n)!r}")
            out.append(f"python - <<'{EOF_TAG}'\n{b.text}{EOF_TAG}")
    return "\n".join(out) + "\n"


def layered_venv(root: Path) -> Path:
    """A venv that sees the running environment's packages but installs into its own."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    parent = sysconfig.get_paths()["purelib"]
    (site / "_envlearn_parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    python = venv / "bin" / "python"
    for name, entry in {
        "pip": "from pip._internal.cli.main import main",
        "envlearn": "from envlearn.cli import main",
        "pytest": "from pytest import console_main as main",
    }.items():
        shim = venv / "bin" / name
        shim.write_text(f"#!{python}\nimport sys\n{entry}\nsys.exit(main())\n")
        shim.chmod(0o755)
    return venv


@pytest.fixture(scope="module")
def blocks() -> list[Block]:
    return parse_blocks(DOC.read_text())


@pytest.fixture(scope="module")
def tutorial(blocks: list[Block], tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """Run the tutorial once; the stdout of each runnable block by block index."""
    root = tmp_path_factory.mktemp("tutorial")
    venv = layered_venv(root)
    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENVLEARN_", "PIP_"))}
    env.pop("PYTHONPATH", None)
    env.update(
        PATH=f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        VIRTUAL_ENV=str(venv),
        PIP_NO_INDEX="1",
        PIP_NO_BUILD_ISOLATION="0",  # pip's spelling of --no-build-isolation
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    proc = subprocess.run(
        ["bash", "-c", tutorial_script(blocks)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    parts = re.split(r"^@@envlearn-doc-block (\d+)@@$", proc.stdout, flags=re.MULTILINE)
    outputs = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    if proc.returncode != 0:
        failing = max(outputs, default=-1)
        where = f"block at line {blocks[failing].line}" if failing >= 0 else "the first block"
        pytest.fail(
            f"docs/plugins.md: {where} failed (exit {proc.returncode}):\n"
            f"--- stdout (tail) ---\n{proc.stdout[-3000:]}\n--- stderr (tail) ---\n"
            f"{proc.stderr[-3000:]}",
            pytrace=False,
        )
    return outputs


def _normalise(line: str) -> str:
    return re.sub(r"in \d+\.\d+ s$", "in N s", line.rstrip())


@pytest.mark.integration
def test_every_command_in_the_tutorial_runs(blocks: list[Block], tutorial: dict[int, str]) -> None:
    runnable = [
        n
        for n, b in enumerate(blocks)
        if b.marker != "skip-test" and not b.file and b.lang in ("bash", "python")
    ]
    assert runnable and sorted(tutorial) == runnable


@pytest.mark.integration
def test_shown_outputs_are_what_the_commands_print(
    blocks: list[Block], tutorial: dict[int, str]
) -> None:
    checked = 0
    for n, b in enumerate(blocks):
        if b.marker != "output":
            continue
        before = max(k for k in tutorial if k < n)
        printed = {_normalise(line) for line in tutorial[before].splitlines()}
        for line in b.text.splitlines():
            if line.strip():
                assert _normalise(line) in printed, (
                    f"docs/plugins.md line {b.line}: {line!r} is not in what the block at line "
                    f"{blocks[before].line} printed:\n{tutorial[before]}"
                )
                checked += 1
    assert checked >= 10


@pytest.mark.unit
def test_untested_blocks_only_wait_for_the_trainer(blocks: list[Block]) -> None:
    skipped = [b for b in blocks if b.marker == "skip-test"]
    for b in skipped:
        assert b.reason and "envlearn train" in b.text, (
            f"docs/plugins.md line {b.line}: only the training block may skip its test"
        )
    spec = importlib.util.find_spec("envlearn.trainer")
    if skipped and spec is not None and spec.origin:
        source = Path(spec.origin).read_text()
        assert "def cli_train" not in source, (
            "envlearn train exists now: remove the <!-- skip-test --> marker before the training "
            "block of docs/plugins.md (and point it at a real tiny recipe) so this test runs it"
        )


@pytest.mark.unit
def test_every_hook_is_documented() -> None:
    doc = DOC.read_text()
    specs = {
        name
        for name, fn in inspect.getmembers(envlearn.hookspecs, inspect.isfunction)
        if hasattr(fn, "envlearn_spec")
    }
    assert specs >= {"register_adapters", "register_task_suites", "register_commands"}
    reference = section(doc, "Reference: hooks")
    for name in sorted(specs):
        assert f"\n### {name}\n" in reference, f"hook {name} has no section in docs/plugins.md"
        signature = re.search(r"``(register\(.*?\))``", getattr(envlearn.hookspecs, name).__doc__)
        assert signature, f"{name}'s docstring should show its register(...) signature"
        assert f"`{signature.group(1)}`" in reference, (
            f"docs/plugins.md should show {name}'s callback as `{signature.group(1)}`"
        )


@pytest.mark.unit
def test_every_plugin_control_is_documented() -> None:
    controls = set(re.findall(r"ENVLEARN_[A-Z_]+", envlearn.plugins.__doc__ or ""))
    assert controls >= {"ENVLEARN_DISABLE_AUTOLOAD", "ENVLEARN_PLUGINS", "ENVLEARN_TRACE_HOOKS"}
    text = section(DOC.read_text(), "Plugin controls")
    for var in sorted(controls):
        assert f"`{var}=" in text, f"{var} is not documented under 'Plugin controls'"


@pytest.mark.unit
def test_every_check_is_documented() -> None:
    table = section(DOC.read_text(), "Reference: the checks")
    rows = re.findall(r"^\| `(check_\w+)` \|", table, flags=re.MULTILINE)
    assert rows == list(CHECKS)


@pytest.mark.unit
def test_the_failure_shown_is_what_envlearn_check_prints(blocks: list[Block]) -> None:
    source = next(b.text for b in blocks if b.file == "envlearn_hangman.py")
    module = types.ModuleType("doc_hangman")
    exec(compile(source, "envlearn_hangman.py", "exec"), module.__dict__)

    class HintAsContent(module.Hangman):  # the mistake the page describes
        def step(self, action_text: str):  # type: ignore[no-untyped-def]
            obs = super().step(action_text)
            if obs.parts[0].kind == "notice":
                return module.Observation(parts=[module.content("board", obs.parts[0].text)])
            return obs

    report = check_adapter(HintAsContent, tasks=module.hangman_tasks()[:3])
    shown = next(b.text for b in blocks if "✗ check_notices_marked" in b.text)
    printed = report.format().splitlines()
    for line in shown.splitlines():
        assert line in printed, f"{line!r} not in:\n{report}"
