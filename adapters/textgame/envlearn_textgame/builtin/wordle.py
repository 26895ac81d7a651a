"""``wordle``: guess a secret five-letter word in six tries, from letter-by-letter feedback.

The secret is drawn from :data:`WORDS` by the seed.  Each guess (any five letters a-z) is
answered with a mark per letter: ``G`` right letter in the right place, ``Y`` in the word but
elsewhere, ``.`` not in the word (repeated letters are marked only as often as the secret has
them, greens first).  Score: the most greens of any guess so far (5 = solved).

The oracle plays a fixed strategy: always guess the candidate (a word of :data:`WORDS` that fits
every mark so far) that splits the remaining candidates into the most groups.  It solves every
word of the list within six guesses (the tests check all of them).
"""

from __future__ import annotations

import random
from collections import Counter

from envlearn_textgame.game import Turn

__all__ = ["MAX_GUESSES", "OPENING", "WORDS", "WordleGame", "feedback", "solve"]

MAX_GUESSES = 6

WORDS: tuple[str, ...] = tuple(
    sorted(
        set(
            """
    about above actor adult after again agent agree ahead alarm album alert alike alive allow
    alone along alter among anger angle angry apart apple apply arena argue arise array aside
    asset audio avoid award aware badly baker basic beach begin being below bench birth black
    blade blame blank blast blind block blood board boost booth bound brain brand bread break
    breed brief bring broad brown build built buyer cable carry catch cause chain chair chart
    chase cheap check chest chief child china chose civil claim class clean clear click clock
    close coach coast could count court cover craft crash cream crime cross crowd crown curve
    cycle daily dance dated dealt death debut delay depth doing doubt dozen draft drama drawn
    dream dress drink drive drove dying eager early earth eight elite empty enemy enjoy enter
    entry equal error event every exact exist extra faith false fault fiber field fifth fifty
    fight final first fixed flash fleet floor fluid focus force forth forty forum found frame
    fresh front fruit fully funny giant given glass globe going grace grade grand grant grass
    great green gross group grown guard guess guest guide happy heart heavy hence horse hotel
    house human ideal image index inner input issue joint judge known label large laser later
    laugh layer learn lease least leave legal level light limit local logic loose lower lucky
    lunch major maker march match maybe mayor meant media metal might minor minus mixed model
    money month moral motor mount mouse mouth movie music needs never newly night noise north
    noted novel nurse occur ocean offer often order other outer owner paint panel paper party
    peace phase phone photo piece pilot pitch place plain plane plant plate point pound power
    press price pride prime print prior prize proof proud prove queen quick quiet quite radio
    raise range rapid ratio reach ready refer right rival river rough round route royal rural
    scale scene scope score sense serve seven shall shape share sharp sheet shelf shell shift
    shirt shock shoot short shown sight since sixth sixty skill sleep slide small smart smile
    smoke solid solve sorry sound south space spare speak speed spend spent split spoke sport
    staff stage stake stand start state steam steel stick still stock stone stood store storm
    story strip stuck study stuff style sugar suite super sweet table taken taste teach teeth
    thank theme there thick thing think third those three threw throw tight times tired title
    today topic total touch tough tower track trade train treat trend trial tried truck truly
    trust truth twice under union unity until upper upset urban usage usual valid value video
    virus visit vital voice waste watch water wheel where which while white whole whose woman
    world worry worse worst worth would wound write wrong wrote young youth
    """.split()
        )
    )
)
"""The secrets and the oracle's vocabulary: common English five-letter words."""


def feedback(guess: str, secret: str) -> str:
    """Wordle marks for ``guess`` against ``secret``: ``G``/``Y``/``.`` per letter."""
    marks = ["."] * 5
    left = Counter(s for g, s in zip(guess, secret, strict=True) if g != s)
    for i, (g, s) in enumerate(zip(guess, secret, strict=True)):
        if g == s:
            marks[i] = "G"
        elif left[g] > 0:
            marks[i] = "Y"
            left[g] -= 1
    return "".join(marks)


def _best_guess(candidates: tuple[str, ...]) -> str:
    """The candidate splitting ``candidates`` into the most mark groups (ties: first in order)."""
    if len(candidates) <= 2:
        return candidates[0]
    return max(candidates, key=lambda g: len({feedback(g, s) for s in candidates}))


OPENING = "alert"
"""The oracle's first guess: ``_best_guess(WORDS)``, precomputed (it takes seconds; a test
checks it)."""


def solve(secret: str) -> list[str]:
    """The oracle's guesses for ``secret``, the last one being ``secret``."""
    candidates = WORDS
    guesses: list[str] = []
    guess = OPENING
    while True:
        guesses.append(guess)
        marks = feedback(guess, secret)
        if marks == "GGGGG":
            return guesses
        candidates = tuple(c for c in candidates if feedback(guess, c) == marks)
        guess = _best_guess(candidates)


class WordleGame:
    """A word game whose secret is drawn from :data:`WORDS` by ``seed``."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.secret = random.Random(f"wordle:{seed}").choice(WORDS)
        self.max_score = 5
        self.start()

    def walkthrough(self) -> list[str]:
        """The oracle's winning guesses, as commands."""
        return [f"guess {w}" for w in solve(self.secret)]

    def start(self) -> Turn:
        """A fresh board."""
        self.guesses: list[str] = []
        self.best = 0
        self.won = False
        return self._turn(
            f"I am thinking of a five-letter English word. You have {MAX_GUESSES} guesses. "
            "After each guess I mark every letter: G = right letter, right place; "
            "Y = in the word, wrong place; . = not in the word."
        )

    def step(self, command: str) -> Turn:
        """Play ``guess WORD`` (or just ``WORD``)."""
        words = command.lower().split()
        if len(words) == 2 and words[0] == "guess":
            words = words[1:]
        if len(words) != 1:
            return self._turn("Say one word to guess, like: guess crane", understood=False)
        word = words[0]
        if len(word) != 5 or not word.isascii() or not word.isalpha():
            return self._turn(
                f"{word!r} is not a five-letter word; guesses are five letters a-z.",
                understood=False,
            )
        self.guesses.append(word)
        marks = feedback(word, self.secret)
        self.best = max(self.best, marks.count("G"))
        left = MAX_GUESSES - len(self.guesses)
        if marks == "GGGGG":
            self.won = True
            return self._turn(f"{word.upper()} {marks}\nYou got it in {len(self.guesses)}!")
        if left == 0:
            return self._turn(
                f"{word.upper()} {marks}\nNo guesses left. The word was {self.secret}."
            )
        return self._turn(f"{word.upper()} {marks}\n{left} guess{'es' if left > 1 else ''} left.")

    def close(self) -> None:
        """Nothing to release."""

    def _turn(self, narration: str, *, understood: bool = True) -> Turn:
        lost = not self.won and len(self.guesses) >= MAX_GUESSES
        return Turn(
            narration=narration,
            score=5 if self.won else self.best,
            max_score=self.max_score,
            won=self.won,
            lost=lost,
            understood=understood,
        )
