"""``switchboard``: light every lamp with switches whose wiring is hidden.

Each switch toggles a fixed set of lamps (one to three), drawn from the seed; the start state is
drawn too.  Nothing tells the player the wiring: it has to be learned from what each flip does,
which makes the game a direct probe of learning a world's dynamics (predicting the next
``Lamps:`` line is predicting the wiring).  The wiring is invertible over GF(2), so every start
can be solved, and flipping each switch of the unique solution once is the shortest win: that
is the oracle.  Score: lamps lit.
"""

from __future__ import annotations

import random

from envlearn_textgame.game import Turn

__all__ = ["SwitchboardGame", "solve_wiring"]


def _rank(rows: list[int], n: int) -> int:
    rows = list(rows)
    rank = 0
    for bit in range(n):
        pivot = next((i for i in range(rank, len(rows)) if rows[i] >> bit & 1), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i] >> bit & 1:
                rows[i] ^= rows[rank]
        rank += 1
    return rank


def solve_wiring(wiring: list[int], start: int, n: int) -> list[int]:
    """The switches (0-based, ascending) whose flips turn ``start`` into all lamps lit:
    Gaussian elimination over GF(2) on ``wiring`` (switch i toggles the bits of ``wiring[i]``)."""
    need = start ^ ((1 << n) - 1)
    # augmented columns: equation per lamp bit; unknown per switch
    rows = []
    for lamp in range(n):
        coeffs = sum(1 << s for s in range(n) if wiring[s] >> lamp & 1)
        rows.append((coeffs, need >> lamp & 1))
    chosen = [0] * n
    pivots: list[tuple[int, int]] = []
    r = 0
    for s in range(n):
        p = next((i for i in range(r, n) if rows[i][0] >> s & 1), None)
        if p is None:
            raise ValueError("the wiring is singular")
        rows[r], rows[p] = rows[p], rows[r]
        for i in range(n):
            if i != r and rows[i][0] >> s & 1:
                rows[i] = (rows[i][0] ^ rows[r][0], rows[i][1] ^ rows[r][1])
        pivots.append((s, r))
        r += 1
    for s, row in pivots:
        chosen[s] = rows[row][1]
    return [s for s in range(n) if chosen[s]]


class SwitchboardGame:
    """``lamps`` lamps and as many switches, wired and started from ``seed``."""

    def __init__(self, seed: int, *, lamps: int = 6) -> None:
        if not 3 <= lamps <= 9:
            raise ValueError(f"switchboard lamps must be between 3 and 9, got {lamps}")
        self.seed = seed
        self.n = lamps
        rng = random.Random(f"switchboard:{seed}:{lamps}")
        while True:
            wiring = [
                sum(1 << b for b in rng.sample(range(lamps), rng.randint(1, 3)))
                for _ in range(lamps)
            ]
            if _rank(wiring, lamps) == lamps:
                break
        self.wiring = wiring
        full = (1 << lamps) - 1
        while True:
            start = rng.randrange(full)
            if len(solve_wiring(wiring, start, lamps)) >= 2:
                break
        self.initial = start
        self.max_score = lamps
        self.start()

    def walkthrough(self) -> list[str]:
        """Flip each switch of the solution once, in order."""
        return [f"flip {s + 1}" for s in solve_wiring(self.wiring, self.initial, self.n)]

    def start(self) -> Turn:
        """The lamps as the seed set them."""
        self.state = self.initial
        self.flips = 0
        return self._turn(
            f"A panel holds {self.n} lamps and {self.n} switches, numbered 1 to {self.n}. "
            "Each switch toggles some of the lamps. Light them all.\n" + self._lamps()
        )

    def step(self, command: str) -> Turn:
        """``flip N`` (also ``press N``, ``toggle N``, or just ``N``), or ``look``."""
        words = command.lower().split()
        if words == ["look"] or words == ["l"]:
            return self._turn(self._lamps())
        if len(words) == 2 and words[0] in ("flip", "press", "toggle", "switch"):
            words = words[1:]
        if len(words) != 1 or not words[0].isdigit():
            return self._turn("Say which switch to flip, like: flip 2", understood=False)
        k = int(words[0])
        if not 1 <= k <= self.n:
            return self._turn(f"There is no switch {k}; they are numbered 1 to {self.n}.")
        self.state ^= self.wiring[k - 1]
        self.flips += 1
        text = f"You flip switch {k}.\n{self._lamps()}"
        if self._won():
            text += "\nEvery lamp is lit. The panel hums and a door clicks open."
        return self._turn(text)

    def close(self) -> None:
        """Nothing to release."""

    def _won(self) -> bool:
        return self.state == (1 << self.n) - 1

    def _lamps(self) -> str:
        marks = " ".join(f"{i + 1}:{'on' if self.state >> i & 1 else 'off'}" for i in range(self.n))
        return f"Lamps: {marks}"

    def _turn(self, narration: str, *, understood: bool = True) -> Turn:
        return Turn(
            narration=narration,
            score=bin(self.state).count("1"),
            max_score=self.max_score,
            won=self._won(),
            understood=understood,
        )
