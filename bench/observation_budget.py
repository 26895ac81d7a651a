"""Benchmark the observation budget on a huge part: the renderer's cut vs tokenizing it whole.

    .venv/bin/python bench/observation_budget.py        # ~1 min on 2 cores

Before (round 1), the budget tokenized each content part whole before cutting it, and notices
were not cut at all (a 5 MB notice became millions of transcript tokens).  Now every part counts
and only a window around the budget is tokenized.  Printed: the median time to budget one
observation of 1 / 5 MB (a notice, or content) with the shipped tokenizer and a 256-token
budget, beside the time to tokenize that text whole (what the old path paid for content, and a
lower bound of what a 5 MB notice cost it), and the ratio.
"""

from __future__ import annotations

import statistics
import time

from envlearn.channels import content, notice
from envlearn.models import load_tokenizer
from envlearn.render import ChatRenderer


def _median_s(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    """Print the table."""
    tok = load_tokenizer()
    r = ChatRenderer(tok, max_observation_tokens=256)
    line = "[warning] the environment is very chatty today ü\n"
    print(f"{'part':<16} {'budgeted (now)':>15} {'tokenized whole':>16} {'ratio':>8}")
    for mb in (1, 5):
        text = line * (mb * 1_000_000 // len(line))
        for kind, part in (("notice", notice(text)), ("content", content("stdout", text))):
            now = _median_s(lambda part=part: r._budget([part]), 5)
            whole = _median_s(lambda text=text: r.encode_content(text), 3)
            label = f"{mb} MB {kind}"
            print(
                f"{label:<16} {1000 * now:>12.1f} ms {1000 * whole:>13.0f} ms {whole / now:>7.0f}x"
            )


if __name__ == "__main__":
    main()
