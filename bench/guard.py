"""Predict-before-act guard: what it catches, what it wrongly refuses, what it costs.

    .venv/bin/python bench/guard.py [--model RUN_DIR/model] [--suite http]

The rule: on the HTTP adapter, a write (POST/PUT/PATCH/DELETE) whose *predicted* status line is
4xx/5xx is refused before it is sent.  Three passes over every task of the suite, with the same
model predicting:

1. the oracles without the guard: the real status of every oracle write (ground truth);
2. the oracles through the guard: refused writes whose real status was 2xx/3xx are false
   refusals, refused 4xx/5xx writes are true refusals;
3. broken writes (each oracle write with its body replaced by ``{}``): real status 4xx mostly;
   the share the guard refuses is its recall on writes that would fail.

Prints the counts, rates, and the wall-time cost per episode of asking for the predictions.
Torch runs on one thread.  With the untrained tiny model the predictions are noise: pass a model
trained with ECHO on the suite to see what a model that learned the API's dynamics does.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

import torch

from envlearn.config import GuardConfig, GuardRule, RolloutConfig
from envlearn.models import TinyModelConfig, load_model, load_tokenizer, tiny_model
from envlearn.plugins import load_tasks, make_adapter
from envlearn.policies import HFPolicy
from envlearn.predict import Guard
from envlearn.render import ChatRenderer
from envlearn.rollout import Rollout, oracle_rollouts

WRITE = re.compile(r"^```http\s*\n\s*(POST|PUT|PATCH|DELETE)\s", re.M)
STATUS = re.compile(r"HTTP/1\.1 (\d{3})")
RULE = GuardRule(
    name="writes-must-succeed",
    adapters=["http"],
    action=r"^\s*(POST|PUT|PATCH|DELETE)\s",
    prediction=r"^\s*(HTTP/1\.1 )?[45]\d\d",
    message="The predicted status of this write is an error.",
)


def _statuses(r: Rollout) -> list[str | None]:
    """The real status of each action of an (unguarded) oracle rollout, in order."""
    out: list[str | None] = []
    for tr in r.samples:
        for m in tr.messages:
            if m["role"] == "tool":
                found = STATUS.search(m["content"])
                out.append(found.group(1) if found else None)
    return out


def _break_writes(actions: list[str]) -> list[str]:
    out = []
    for a in actions:
        if WRITE.search(a) and "\n\n" in a:
            head, _, rest = a.partition("\n\n")
            tail = rest[rest.find("```") :] if "```" in rest else "```"
            out.append(f"{head}\n\n{{}}\n{tail}")
        else:
            out.append(a)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="a saved model dir (default: untrained tiny)")
    ap.add_argument("--suite", default="http")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tok = load_tokenizer(args.model)
    model = load_model(args.model) if args.model else tiny_model(TinyModelConfig())
    policy = HFPolicy(model, tok)
    renderer = ChatRenderer(tok, observation_role="tool", max_observation_tokens=256)
    tasks = load_tasks(args.suite)
    cfg = RolloutConfig(group_size=1, num_workers=4)
    guard = Guard(GuardConfig(rules=[RULE], max_prediction_tokens=8))

    def make(t):
        return make_adapter(t.adapter)

    t0 = time.perf_counter()
    plain = oracle_rollouts(tasks, renderer, make, cfg)
    t_plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    guarded = oracle_rollouts(tasks, renderer, make, cfg, guard=guard, policy=policy)
    t_guard = time.perf_counter() - t0
    broken_tasks = [t.model_copy(update={"oracle": _break_writes(t.oracle or [])}) for t in tasks]
    broken_plain = oracle_rollouts(broken_tasks, renderer, make, cfg)
    broken_guarded = oracle_rollouts(broken_tasks, renderer, make, cfg, guard=guard, policy=policy)

    def tally(real: list[Rollout], checked: list[Rollout]) -> dict[str, int]:
        c = {"writes": 0, "ok_writes": 0, "err_writes": 0, "false_refusals": 0, "true_refusals": 0}
        for r, g in zip(real, checked, strict=True):
            statuses = _statuses(r)
            asked = {e["turn"]: e for e in g.guard}
            for turn, status in enumerate(statuses, start=1):
                if turn not in asked:
                    continue  # not a write: the guard never asks
                c["writes"] += 1
                bad = status is None or status[0] in "45"
                c["err_writes" if bad else "ok_writes"] += 1
                if asked[turn]["refused_by"]:
                    c["true_refusals" if bad else "false_refusals"] += 1
        return c

    ok = tally(plain, guarded)
    br = tally(broken_plain, broken_guarded)
    n_pred = sum(len(g.guard) for g in guarded)
    print(f"model: {args.model or 'untrained tiny'}; suite {args.suite}: {len(tasks)} tasks")
    print(
        f"oracle writes: {ok['writes']} ({ok['ok_writes']} succeed, {ok['err_writes']} fail); "
        f"false refusals {ok['false_refusals']}/{ok['ok_writes']} "
        f"= {ok['false_refusals'] / max(1, ok['ok_writes']):.2f}; "
        f"true refusals {ok['true_refusals']}/{ok['err_writes']}"
    )
    print(
        f"broken writes: {br['writes']} ({br['err_writes']} fail for real); refused "
        f"{br['true_refusals']}/{br['err_writes']} = {br['true_refusals'] / max(1, br['err_writes']):.2f}"
        f" (recall); wrongly refused {br['false_refusals']}/{br['ok_writes']}"
    )
    per_ep = [t_plain / len(tasks), t_guard / len(tasks)]
    print(
        f"cost: {n_pred} predictions; wall per episode {per_ep[0] * 1000:.0f} ms without guard, "
        f"{per_ep[1] * 1000:.0f} ms with (x{per_ep[1] / per_ep[0]:.2f}); "
        f"median env time per episode {statistics.median(r.env_seconds for r in plain) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
