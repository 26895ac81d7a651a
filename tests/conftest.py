"""One torch thread per pytest worker (`pytest -n 2` on 2 cores): torch with more threads than
free cores is many times slower.  Subprocesses inherit it through OMP_NUM_THREADS."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
