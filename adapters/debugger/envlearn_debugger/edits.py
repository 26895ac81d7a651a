"""Source edits the model can make: a line-range replacement or a unified diff.

``edit`` block::

    stats.py 12-13
        return (xs[mid - 1] + xs[mid]) / 2

replaces lines 12 to 13 (1-based, inclusive) of ``stats.py`` with the lines after the header
(none: the lines are deleted; ``12-11`` inserts before line 12).  ``diff`` block: a unified diff
(``--- a/stats.py`` / ``+++ b/stats.py`` / ``@@ -12,2 +12,2 @@`` hunks); each hunk must match the
file's lines exactly, and may sit up to 200 lines away from where its header says.

Both only touch files the task lets the model edit; a problem is a :class:`EditError` whose
message says what is wrong (shown to the model as a notice, never raised out of ``step``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EditError", "EditResult", "apply_diff", "apply_line_edit", "check_target"]

_HEADER_RE = re.compile(r"^\s*(\S+)\s+(\d+)\s*-\s*(\d+)\s*$")
_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
MAX_FILE_BYTES = 1 << 20
FUZZ_LINES = 200


class EditError(ValueError):
    """An edit that cannot be applied; the message tells the model how to fix it."""


@dataclass(frozen=True)
class EditResult:
    """What an edit changed: the file, the 1-based first line and line counts before/after."""

    path: str
    first_line: int
    removed: int
    added: int

    def describe(self) -> str:
        """One line for the notice."""
        return (
            f"{self.path}: replaced {self.removed} line(s) from line {self.first_line} "
            f"with {self.added} line(s)"
        )


def check_target(name: str, editable: Collection[str]) -> str:
    """The file name if the task lets the model edit it, else an :class:`EditError`."""
    name = name.strip()
    if name.startswith(("a/", "b/")) and name[2:] in editable:
        name = name[2:]
    if name.startswith("/work/"):
        name = name[len("/work/") :]
    if name not in editable:
        raise EditError(
            f"{name!r} cannot be edited; the files you may edit are: {', '.join(sorted(editable))}"
        )
    return name


def _read_lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise EditError(f"{path.name} is larger than {MAX_FILE_BYTES} bytes; it cannot be edited")
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def apply_line_edit(body: str, work: Path, editable: Collection[str]) -> EditResult:
    """Apply an ``edit`` block: ``FILE START-END`` then the replacement lines."""
    header, _, rest = body.partition("\n")
    m = _HEADER_RE.match(header)
    if m is None:
        raise EditError(
            f"the first line of an edit block must be 'FILE START-END' (e.g. 'stats.py 12-13'), "
            f"got {header.strip()[:80]!r}"
        )
    name = check_target(m.group(1), editable)
    start, end = int(m.group(2)), int(m.group(3))
    path = work / name
    if not path.is_file():
        raise EditError(f"{name} does not exist in the work dir")
    lines = _read_lines(path)
    if start < 1 or end < start - 1 or end > len(lines):
        raise EditError(
            f"lines {start}-{end} are outside {name}, which has {len(lines)} lines "
            "(use START-END with 1 <= START and START-1 <= END <= the last line)"
        )
    new = rest.split("\n") if rest else []
    if new and new[-1] == "":
        new.pop()
    new_lines = [ln + "\n" for ln in new]
    lines[start - 1 : end] = new_lines
    _write_lines(path, lines)
    return EditResult(name, start, end - start + 1, len(new_lines))


def _find(lines: list[str], old: list[str], at: int) -> int | None:
    """The start index of ``old`` in ``lines`` nearest to ``at`` (within the fuzz window)."""

    def matches(i: int) -> bool:
        return (
            i >= 0
            and i + len(old) <= len(lines)
            and all(lines[i + k].rstrip("\r\n") == old[k] for k in range(len(old)))
        )

    for d in range(FUZZ_LINES + 1):
        for i in (at - d, at + d) if d else (at,):
            if matches(i):
                return i
    return None


def apply_diff(body: str, work: Path, editable: Collection[str]) -> list[EditResult]:
    """Apply a unified diff (one or more files, one or more hunks each)."""
    lines = body.split("\n")
    i = 0
    results: list[EditResult] = []
    pending: dict[str, list[str]] = {}
    target: str | None = None
    seen_hunk = False
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- "):
            if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
                raise EditError("a '--- FILE' line must be followed by a '+++ FILE' line")
            raw = lines[i + 1][4:].split("\t")[0].strip()
            target = check_target(raw, editable)
            if target not in pending:
                path = work / target
                if not path.is_file():
                    raise EditError(f"{target} does not exist in the work dir")
                pending[target] = _read_lines(path)
            i += 2
            continue
        m = _HUNK_RE.match(line)
        if m is not None:
            if target is None:
                raise EditError("a hunk ('@@ -l,n +l,n @@') needs '--- FILE' / '+++ FILE' first")
            seen_hunk = True
            old: list[str] = []
            new: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith(("@@", "--- ")):
                h = lines[i]
                if h.startswith("\\"):  # "\ No newline at end of file"
                    i += 1
                    continue
                tag, text = (h[:1], h[1:]) if h else (" ", "")
                if tag == " ":
                    old.append(text)
                    new.append(text)
                elif tag == "-":
                    old.append(text)
                elif tag == "+":
                    new.append(text)
                else:
                    raise EditError(
                        f"diff line {i + 1} starts with {tag!r}: hunk lines start with ' ', '-' "
                        "or '+'"
                    )
                i += 1
            while old and new and old[-1] == "" and new[-1] == "" and i >= len(lines):
                old.pop()  # the block's trailing newline, not a blank context line
                new.pop()
            file_lines = pending[target]
            at = _find(file_lines, old, int(m.group(1)) - 1 if old else int(m.group(1)))
            if at is None:
                raise EditError(
                    f"hunk '{line.strip()}' does not match {target}: its context and '-' lines "
                    "must equal the file's lines (list the file again to see them)"
                )
            file_lines[at : at + len(old)] = [t + "\n" for t in new]
            results.append(EditResult(target, at + 1, len(old), len(new)))
            continue
        if line.strip() and not line.startswith(("diff ", "index ")):
            raise EditError(
                f"unexpected diff line {i + 1}: {line[:60]!r} (a unified diff has '--- FILE', "
                "'+++ FILE', then '@@ -l,n +l,n @@' hunks)"
            )
        i += 1
    if not seen_hunk:
        raise EditError("the diff has no hunk: add '@@ -START,COUNT +START,COUNT @@' and lines")
    for name, file_lines in pending.items():
        _write_lines(work / name, file_lines)
    return results
