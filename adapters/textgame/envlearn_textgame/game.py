"""What every text game gives the adapter: a :class:`Turn` per command, from a pure function of
its seed.

A game is built from its settings (including a seed), started once, then fed one command per
step.  The same settings and the same commands always give byte-identical turns: no clock, no
global random state, no paths or process ids in any text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Game", "Turn"]


@dataclass(frozen=True)
class Turn:
    """The game's answer to a command (or its opening, for ``start``).

    * ``narration``: what the game printed;
    * ``room``/``inventory``: the current room's description and what the player carries
      (``""`` where the game has no such notion);
    * ``score``/``max_score``: points so far and the most there are;
    * ``won``/``lost``: the game is over, and how;
    * ``understood``: False when the game's parser did not understand the command (an unknown
      verb, an unknown thing), so the adapter can add a hint.
    """

    narration: str
    room: str = ""
    inventory: str = ""
    score: int = 0
    max_score: int = 1
    won: bool = False
    lost: bool = False
    understood: bool = True

    @property
    def over(self) -> bool:
        """Whether the game has ended (won or lost)."""
        return self.won or self.lost


class Game(Protocol):
    """One play-through of one game."""

    def start(self) -> Turn:
        """Begin (or begin again): the opening text and state."""
        ...

    def step(self, command: str) -> Turn:
        """Play one command (plain text, already sanitised by the adapter)."""
        ...

    def close(self) -> None:
        """Release what the game holds (idempotent)."""
        ...
