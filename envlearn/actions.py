"""The one action grammar every adapter speaks: a fenced code block, and a completion line.

An action is the body of the **first fenced code block** of the model's reply whose language is
one the adapter accepts (```` ```bash ````, ```` ```http ````, ```` ```browser ```` ...; a bare
```` ``` ```` fence is accepted unless the adapter says otherwise).  Later blocks are ignored and
counted.  The episode ends when the reply holds the **completion line** ``TASK COMPLETE`` on a
line of its own outside every code block (Markdown decoration such as ``**TASK COMPLETE**`` or a
trailing ``.`` is tolerated).

**The one rule for a reply with both**: the action runs first, then the episode ends.  The
observation of that action is shown and recorded as the final observation.  (A model that writes
"```bash git commit```, TASK COMPLETE" means both; dropping the command would punish it for
saying it was done.)

:func:`parse_action` never raises on model text: a malformed reply comes back with
:attr:`Action.problem`, a sentence the adapter shows as a notice, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

__all__ = [
    "COMPLETE_LINE",
    "Action",
    "FencedBlock",
    "fenced_blocks",
    "format_help",
    "is_complete_line",
    "parse_action",
]

COMPLETE_LINE = "TASK COMPLETE"

_OPEN_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$")
_DECORATION = "*_`>#- \t"


@dataclass(frozen=True)
class FencedBlock:
    """One fenced code block: its language (lower-cased first word of the info string, ``""``
    for a bare fence), its body (the lines between the fences, joined by ``\\n``), and whether a
    closing fence was found."""

    language: str
    body: str
    closed: bool = True


@dataclass(frozen=True)
class Action:
    """A reply, understood.

    * ``body``: the chosen block's text, or ``None`` when the reply holds no usable block;
    * ``complete``: the completion line is present (outside every block);
    * ``problem``: why no action could be read (no block, unclosed, empty, wrong language), or
      ``None``; meaningless when ``complete`` is true and ``body`` is ``None`` (a plain "done");
    * ``language``: the chosen block's language; ``extra_blocks``: later blocks, ignored.
    """

    body: str | None = None
    complete: bool = False
    problem: str | None = None
    language: str = ""
    extra_blocks: int = 0

    @property
    def kind(self) -> str:
        """``"act"`` (run ``body``; then end if ``complete``), ``"complete"`` (only the
        completion line) or ``"invalid"`` (show ``problem`` as a notice)."""
        if self.body is not None:
            return "act"
        return "complete" if self.complete else "invalid"


def is_complete_line(line: str) -> bool:
    """Whether one line (outside code blocks) is the completion line."""
    s = line.strip().strip(_DECORATION).rstrip(".!").strip(_DECORATION)
    return s == COMPLETE_LINE


def _split(text: str) -> tuple[list[FencedBlock], list[str]]:
    """Every fenced block of ``text`` and the lines outside them."""
    lines = text.split("\n")
    blocks: list[FencedBlock] = []
    outside: list[str] = []
    i = 0
    while i < len(lines):
        m = _OPEN_RE.match(lines[i].rstrip("\r"))
        if m is None:
            outside.append(lines[i])
            i += 1
            continue
        fence, lang = m.group(1), m.group(2).lower()
        close_re = re.compile(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not close_re.match(lines[j].rstrip("\r")):
            body.append(lines[j])
            j += 1
        if j >= len(lines):
            # unclosed: also accept "GET /x```" (the fence glued to the last line)
            joined = "\n".join(body)
            glued = re.sub(r"[`~]{3,}[ \t]*\Z", "", joined.rstrip())
            blocks.append(FencedBlock(lang, glued, closed=glued != joined.rstrip()))
            break
        blocks.append(FencedBlock(lang, "\n".join(body), closed=True))
        i = j + 1
    return blocks, outside


def fenced_blocks(text: str) -> list[FencedBlock]:
    """Every fenced code block of ``text``, in order (an unclosed last one included)."""
    return _split(text)[0]


def parse_action(
    text: str,
    *,
    languages: Collection[str] | None = None,
    bare: bool = True,
    example: str = "",
) -> Action:
    """Read one model reply (never raises).

    :param languages: block languages that hold an action (lower case, e.g. ``{"bash", "sh"}``);
        ``None`` accepts any language.
    :param bare: whether a fence with no language holds an action.
    :param example: an example action block, appended to the problems the model is shown.
    """
    blocks, outside = _split(text)
    complete = any(is_complete_line(line) for line in outside)
    hint = f" For example:\n{example}" if example else ""

    def accepted(b: FencedBlock) -> bool:
        if not b.language:
            return bare
        return languages is None or b.language in languages

    usable = [b for b in blocks if accepted(b)]
    if usable:
        first = usable[0]
        if not first.closed:
            return Action(
                complete=complete,
                problem="Your code block is not closed (no ``` line after it), so nothing ran."
                + hint,
            )
        if not first.body.strip():
            return Action(
                complete=complete, problem="Your code block is empty, so nothing ran." + hint
            )
        return Action(
            body=first.body,
            complete=complete,
            language=first.language,
            extra_blocks=len(usable) - 1,
        )
    if blocks:
        langs = sorted(languages or [])
        want = " or ".join(f"```{lang}" for lang in langs) if langs else "a fenced"
        return Action(
            complete=complete,
            problem=f"Found a ```{blocks[0].language} block, but actions go in {want} block, "
            "so nothing ran." + hint,
        )
    return Action(complete=complete, problem="Your reply has no code block, so nothing ran." + hint)


def format_help(example: str) -> str:
    """The standard format paragraph for a system prompt, around one example action block."""
    return (
        "Put your action in one fenced code block, for example:\n"
        f"{example}\n"
        f"When the task is done, write the line {COMPLETE_LINE} outside any code block "
        "(an action in the same reply runs first).\n"
    )
