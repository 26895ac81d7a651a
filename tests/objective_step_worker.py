"""Run under ``accelerate launch --cpu --num_processes 2`` by tests/test_objective.py: each
process takes its share of the fixed transcripts and runs ``Trainer._update``; rank 0 compares
loss and every gradient with the one-process references (``refs.pt``) and writes the largest
differences as JSON.

Usage: ``objective_step_worker.py RUN_DIR REFS_PT OUT_JSON``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from objective_step_cases import (
    COMBOS,
    build_trainer,
    make_samples,
    moved_state,
    objective_config,
    run_update,
)


def main() -> None:
    run_dir, refs_path, out_path = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    trainer = build_trainer(run_dir)
    rank, world = trainer.accel.process_index, trainer.accel.num_processes
    assert world == 2, world
    samples, adv = make_samples(trainer)
    state = moved_state(trainer)
    refs = torch.load(refs_path)
    n = len(samples)
    no_act = n - 1  # make_samples puts the prompt-only transcript last
    splits = {
        # interleaved shares
        "interleaved": [i for i in range(n) if i % world == rank],
        # rank 1 has no samples at all
        "empty_rank": list(range(n)) if rank == 0 else [],
        # rank 1 has one transcript without action or observation tokens
        "no_tokens_rank": [i for i in range(n) if i != no_act] if rank == 0 else [no_act],
    }
    results = []
    for split, idx in splits.items():
        combos = range(len(COMBOS)) if split == "interleaved" else (9, 10, 12)
        mine = [samples[i] for i in idx]
        my_adv = [adv[i] for i in idx]
        for ci in combos:
            ocfg = objective_config(trainer, COMBOS[ci])
            for mb in (1, 3, n):
                metrics, grads = run_update(trainer, mine, my_adv, ocfg, mb, state)
                ref_metrics, ref_grads = refs[ci]
                gdiff = max(float((grads[k] - ref_grads[k]).abs().max()) for k in ref_grads)
                results.append(
                    {
                        "split": split,
                        "combo": ci,
                        "mb": mb,
                        "grad_diff": gdiff,
                        "grad_scale": max(float(g.abs().max()) for g in ref_grads.values()),
                        "metrics": metrics,
                        "ref_metrics": ref_metrics,
                    }
                )
    if rank == 0:
        Path(out_path).write_text(json.dumps(results))
    trainer.accel.wait_for_everyone()


if __name__ == "__main__":
    main()
