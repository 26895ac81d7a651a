"""The ``miniwob`` task suite: MiniWoB++ pages from the ``miniwob`` package, served over HTTP.

Each task is one MiniWoB++ page (``miniwob/html/miniwob/NAME.html`` in the wheel), served by the
episode's local server (the flight-booking pages need http, not ``file://``).  ``reset`` loads
it, seeds its generator (``Math.seedrandom``), starts an episode without MiniWoB's 10 s clock, and
shows the page's instruction (``core.getUtterance()``) in the first observation; the score is
MiniWoB's own raw reward (1 solved, failures -1 counted as 0, partial credit where the task
gives it), read from ``WOB_RAW_REWARD_GLOBAL`` once ``WOB_DONE_GLOBAL`` is set.

Only tasks the action language can express are listed: :data:`EXCLUDED` names the others and
why.
"""

from __future__ import annotations

import importlib.util
import zlib
from pathlib import Path

from envlearn.channels import EpisodeError, Task

__all__ = ["EXCLUDED", "EXPRESSIBLE", "miniwob_html_dir", "miniwob_pages", "miniwob_tasks"]

EXPRESSIBLE: tuple[str, ...] = (
    "ascending-numbers",
    "book-flight",
    "book-flight-nodelay",
    "button-delay",
    "buy-ticket",
    "choose-date",
    "choose-date-easy",
    "choose-date-medium",
    "choose-date-nodelay",
    "choose-list",
    "click-button",
    "click-button-sequence",
    "click-checkboxes",
    "click-checkboxes-large",
    "click-checkboxes-soft",
    "click-checkboxes-transfer",
    "click-collapsible",
    "click-collapsible-2",
    "click-collapsible-2-nodelay",
    "click-collapsible-nodelay",
    "click-color",
    "click-dialog",
    "click-dialog-2",
    "click-link",
    "click-menu",
    "click-menu-2",
    "click-option",
    "click-tab",
    "click-tab-2",
    "click-tab-2-easy",
    "click-tab-2-hard",
    "click-tab-2-medium",
    "click-test",
    "click-test-2",
    "click-test-transfer",
    "click-widget",
    "copy-paste",
    "copy-paste-2",
    "count-shape",
    "count-sides",
    "daily-calendar",
    "email-inbox",
    "email-inbox-delete",
    "email-inbox-forward",
    "email-inbox-forward-nl",
    "email-inbox-forward-nl-turk",
    "email-inbox-important",
    "email-inbox-nl-turk",
    "email-inbox-noscroll",
    "email-inbox-reply",
    "email-inbox-star-reply",
    "enter-date",
    "enter-password",
    "enter-text",
    "enter-text-2",
    "enter-text-dynamic",
    "enter-time",
    "find-greatest",
    "find-word",
    "focus-text",
    "focus-text-2",
    "form-sequence",
    "form-sequence-2",
    "form-sequence-3",
    "generate-number",
    "guess-number",
    "identify-shape",
    "login-user",
    "login-user-popup",
    "multi-layouts",
    "multi-orderings",
    "navigate-tree",
    "number-checkboxes",
    "odd-or-even",
    "order-food",
    "phone-book",
    "read-table",
    "read-table-2",
    "scroll-text",
    "scroll-text-2",
    "search-engine",
    "sign-agreement",
    "simple-algebra",
    "simple-arithmetic",
    "social-media",
    "social-media-all",
    "social-media-some",
    "terminal",
    "text-transform",
    "tic-tac-toe",
    "unicode-test",
    "use-autocomplete",
    "use-autocomplete-nodelay",
    "use-spinner",
    "visual-addition",
)
"""MiniWoB++ tasks whose solutions are clicks on elements, typing, key presses, choices in
drop-downs and scrolling (some need reading the page carefully, none needs coordinates)."""

_DRAG = "needs dragging (mouse down, move, up): the action language has no drag"
_POINT = "needs a click at a computed point of a canvas/SVG area, not on an element"
_SELECT_TEXT = "needs selecting a span of text with the mouse"
_TIMING = "needs reacting to motion or timing within fractions of a second"
EXCLUDED: dict[str, str] = {
    "bisect-angle": _POINT,
    "chase-circle": _TIMING,
    "circle-center": _POINT,
    "click-pie": "its pie slices are unlabelled SVG paths; the page tree does not show them",
    "click-pie-nodelay": "its pie slices are unlabelled SVG paths; the page tree does not show them",
    "click-scroll-list": "needs ctrl-clicks to choose several options of a multi-select list",
    "click-shades": "colours are shown only as CSS backgrounds, not in the page tree",
    "click-shape": "shapes are unlabelled SVG elements; the page tree does not show them",
    "drag-box": _DRAG,
    "drag-circle": _DRAG,
    "drag-cube": _DRAG,
    "drag-items": _DRAG,
    "drag-items-grid": _DRAG,
    "drag-shapes": _DRAG,
    "drag-shapes-2": _DRAG,
    "drag-single-shape": _DRAG,
    "drag-sort-numbers": _DRAG,
    "draw-circle": _DRAG,
    "draw-line": _DRAG,
    "find-midpoint": _POINT,
    "grid-coordinate": _POINT,
    "highlight-text": _SELECT_TEXT,
    "highlight-text-2": _SELECT_TEXT,
    "hot-cold": _POINT,
    "hover-shape": "needs hovering; the action language has no hover",
    "moving-items": _TIMING,
    "resize-textarea": _DRAG,
    "right-angle": _POINT,
    "simon-says": _TIMING,
    "stock-market": _TIMING,
    "text-editor": _SELECT_TEXT,
    "use-colorwheel": _POINT,
    "use-colorwheel-2": _POINT,
    "use-slider": "needs dragging a slider handle to a value",
    "use-slider-2": "needs dragging slider handles to values",
}


def miniwob_html_dir() -> Path:
    """The ``html`` folder of the installed ``miniwob`` package (found without importing it:
    its ``__init__`` registers gymnasium environments, which this adapter does not use)."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise EpisodeError(
            "the miniwob package is missing: pip install -e adapters/browser (it depends on it)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "html"


def miniwob_pages() -> list[str]:
    """Names of every MiniWoB++ task page shipped in the installed ``miniwob`` package."""
    return sorted(p.stem for p in (miniwob_html_dir() / "miniwob").glob("*.html"))


def miniwob_tasks() -> list[Task]:
    """One task per expressible MiniWoB++ page (seeded; about a fifth held out)."""
    tasks = []
    for name in EXPRESSIBLE:
        heldout = zlib.crc32(name.encode()) % 5 == 0
        tasks.append(
            Task(
                id=f"miniwob-{name}",
                adapter="browser",
                instruction=f"Do what the MiniWoB++ page asks (task {name}); its instruction "
                "is shown first.",
                split="heldout" if heldout else "train",
                max_turns=8,
                data={"kind": "miniwob", "miniwob": name, "seed": 0, "mode": "train"},
            )
        )
    return tasks
