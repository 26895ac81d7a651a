""" "Did you mean …?" for unknown keys, names and commands: the closest valid spelling."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The valid choice closest to ``word`` (case-insensitive), or None when none is close.

    A choice that starts with ``word`` (``train.step`` -> ``train.steps``) counts as close.
    """
    choices = list(dict.fromkeys(choices))
    if not word or not choices:
        return None
    lower = {c.lower(): c for c in choices}
    if word.lower() in lower:
        return lower[word.lower()]
    hits = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)
    if hits:
        return lower[hits[0]]
    prefixed = [c for c in choices if c.lower().startswith(word.lower())]
    return prefixed[0] if len(prefixed) == 1 else None


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """``"; did you mean `train.steps`?"`` (``prefix`` + the closest choice), or ``""``."""
    best = closest(word, choices)
    return f"; did you mean `{prefix}{best}`?" if best else ""
