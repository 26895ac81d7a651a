"""Benchmark the objective: ECHO's cost over GRPO, and the chunked head's memory.

Run:  .venv/bin/python bench/objective.py            (≈ 3-4 min on 2 CPU cores)
      .venv/bin/python bench/objective.py --quick    (smaller repeats, for a smoke run)

1. Step time (forward + backward + AdamW step, same batch, same model), medians over repeats,
   variants interleaved round by round so drift hits all alike; also the fastest repeat and the
   median process CPU time, which other processes on a shared machine disturb less:
   - ``echo``: objective(mode=echo): log-probs at action|env rows, gradient through both.
   - ``grpo``: objective(mode=grpo): same rows (env CE as a metric), gradient only through
     action rows (env rows are skipped in backward).
   - ``grpo_act``: a GRPO that computes action rows only (no env-CE metric).
   - ``naive``: ECHO through full ``model(...).logits`` + log_softmax (what the chunked head
     replaces), and ``naive_grpo``: GRPO the same way (how GRPO is commonly implemented: the
     lm_head backward runs over every position, masked or not).
   Masks: 15 % prompt, then turns of (action, 3× as long observation): ≈ 21 % action tokens,
   ≈ 64 % env tokens; the second sequence has 5 % padding.
2. Peak memory of the loss path alone (hidden states → loss → backward; the backbone excluded),
   chunked vs naive full logits, each in a fresh subprocess.  Method: inputs are built, then the
   kernel's peak-RSS counter is reset (``echo 5 > /proc/self/clear_refs``) and the path is run;
   peak = VmHWM − VmRSS before the run (torch's CPU allocator returns large blocks to the OS, so
   RSS follows live tensors).  On a CUDA machine ``--device cuda`` uses
   ``torch.cuda.max_memory_allocated`` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from envlearn.batch import Batch  # noqa: E402
from envlearn.models import TinyModelConfig, tiny_model  # noqa: E402
from envlearn.objective import (  # noqa: E402
    ChunkedLinearLogprob,
    ObjectiveConfig,
    compute_loss,
    objective,
    token_logprobs,
)


def make_batch(bsz: int, seqlen: int, vocab: int, *, seed: int = 0, device: str = "cpu") -> Batch:
    """A realistic layout: prompt, then turns of (action, observation 3× longer)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (bsz, seqlen), generator=g)
    att = torch.ones(bsz, seqlen, dtype=torch.long)
    action = torch.zeros(bsz, seqlen, dtype=torch.bool)
    env = torch.zeros(bsz, seqlen, dtype=torch.bool)
    for b in range(bsz):
        n = seqlen if b % 2 == 0 else int(seqlen * 0.95)
        att[b, n:] = 0
        t = int(0.15 * seqlen)
        while t < n:
            a = int(torch.randint(max(2, seqlen // 100), max(3, seqlen // 30), (1,), generator=g))
            action[b, t : min(t + a, n)] = True
            t += a
            env[b, t : min(t + 3 * a, n)] = True
            t += 3 * a
    batch = Batch(
        input_ids=ids,
        attention_mask=att,
        action_mask=action,
        env_mask=env,
        env_weight=env.float(),
        channel_ids=torch.where(env, 0, -1),
        advantages=torch.randn(bsz, generator=g),
        channel_names=["stdout"],
    )
    return batch.to(device)


def _grpo_action_only(
    model: torch.nn.Module, batch: Batch, cfg: ObjectiveConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    lp = token_logprobs(
        model, batch.input_ids, batch.attention_mask, batch.action_mask, chunk_size=cfg.chunk_size
    )
    return compute_loss(lp, batch, cfg)


def _naive(
    model: torch.nn.Module, batch: Batch, cfg: ObjectiveConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    lp = torch.zeros(batch.input_ids.shape, device=logits.device)
    lp[:, 1:] = torch.log_softmax(logits[:, :-1].float(), -1).gather(
        2, batch.input_ids[:, 1:, None]
    )[..., 0]
    return compute_loss(lp, batch, cfg)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(
    name: str, mcfg: TinyModelConfig, bsz: int, seqlen: int, repeats: int, device: str
) -> list[dict]:
    """Median and fastest step time per variant, variants interleaved round by round."""
    model = tiny_model(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batch = make_batch(bsz, seqlen, mcfg.vocab_size, device=device)
    echo_cfg = ObjectiveConfig(mode="echo", env_lambda=0.1)
    grpo_cfg = ObjectiveConfig(mode="grpo")
    variants = {
        "echo": lambda: objective(model, batch, echo_cfg),
        "grpo": lambda: objective(model, batch, grpo_cfg),
        "grpo_act": lambda: _grpo_action_only(model, batch, grpo_cfg),
        "naive": lambda: _naive(model, batch, echo_cfg),
        "naive_grpo": lambda: _naive(model, batch, grpo_cfg),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for rnd in range(repeats + 1):  # round 0 is warm-up
        for k, fn in variants.items():
            opt.zero_grad(set_to_none=True)
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            loss, _ = fn()
            loss.backward()
            opt.step()
            _sync(device)
            if rnd > 0:
                times[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
    common = {
        "shape": f"B{bsz} T{seqlen} V{mcfg.vocab_size} H{mcfg.hidden_size}",
        "frac_action": float(batch.action_mask.float().mean()),
        "frac_env": float(batch.env_mask.float().mean()),
    }
    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    return [
        {"name": name, **common, **med},
        {"name": f"{name}/min", **common, **low},
        {"name": f"{name}/cpu", **common, **cpu_med},
    ]


# --------------------------------------------------------------------------------- memory


def _status_kb(key: str) -> int:
    m = re.search(rf"{key}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    if m is None:
        raise RuntimeError(f"{key} not in /proc/self/status")
    return int(m.group(1))


def memory_child(
    path: str, bsz: int, seqlen: int, vocab: int, hidden: int, chunk: int, device: str
) -> dict:
    """Run one loss path from hidden states and report its peak memory above the start."""
    torch.manual_seed(0)
    batch = make_batch(bsz, seqlen, vocab, device=device)
    h = torch.randn(bsz, seqlen, hidden, device=device, requires_grad=True)
    w = (torch.randn(vocab, hidden, device=device) * 0.02).requires_grad_(True)
    cfg = ObjectiveConfig(mode="echo", chunk_size=chunk)
    pos = batch.action_mask | batch.env_mask
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text("5")
        start = _status_kb("VmRSS") * 1024
    if path == "chunked":
        sel = pos[:, 1:]
        lp_sel = ChunkedLinearLogprob.apply(
            h[:, :-1][sel],
            w,
            None,
            batch.input_ids[:, 1:][sel],
            torch.ones(int(sel.sum()), device=device),
            chunk,
        )
        lp = torch.zeros(pos.shape, device=device).masked_scatter(pos, lp_sel)
    else:
        logits = h @ w.T
        lp = torch.zeros(pos.shape, device=device)
        lp[:, 1:] = torch.log_softmax(logits[:, :-1].float(), -1).gather(
            2, batch.input_ids[:, 1:, None]
        )[..., 0]
        del logits
    loss, _ = compute_loss(lp, batch, cfg)
    loss.backward()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - start
    else:
        peak = _status_kb("VmHWM") * 1024 - start
    return {
        "path": path,
        "peak_bytes": peak,
        "loss": float(loss.detach()),
        "grad_w_norm": float(w.grad.norm()),
    }


def run_memory(bsz: int, seqlen: int, vocab: int, hidden: int, chunk: int, device: str) -> dict:
    """Each path in a fresh interpreter."""
    out = {}
    for path in ("chunked", "naive"):
        cmd = [
            sys.executable,
            __file__,
            "--memory-child",
            path,
            "--mem-b",
            str(bsz),
            "--mem-t",
            str(seqlen),
            "--mem-v",
            str(vocab),
            "--mem-h",
            str(hidden),
            "--chunk",
            str(chunk),
            "--device",
            device,
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[path] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the step-time table and the memory table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats (smoke run)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--memory-child", choices=["chunked", "naive"], help=argparse.SUPPRESS)
    p.add_argument("--mem-b", type=int, default=2)
    p.add_argument("--mem-t", type=int, default=4096)
    p.add_argument("--mem-v", type=int, default=32768)
    p.add_argument("--mem-h", type=int, default=256)
    p.add_argument("--chunk", type=int, default=1024)
    args = p.parse_args(argv)
    if args.memory_child:
        r = memory_child(
            args.memory_child,
            args.mem_b,
            args.mem_t,
            args.mem_v,
            args.mem_h,
            args.chunk,
            args.device,
        )
        print(json.dumps(r))
        return 0

    print(
        f"device={args.device} threads={torch.get_num_threads()} torch={torch.__version__} "
        f"loadavg(1m)={os.getloadavg()[0]:.2f} (other work on the machine skews every figure)"
    )
    repeats = 3 if args.quick else 7
    wide_repeats = 2 if args.quick else 5
    tiny_cfg = TinyModelConfig()
    wide_cfg = TinyModelConfig(
        vocab_size=32768,
        hidden_size=256,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        intermediate_size=512,
    )
    rows = time_steps("tiny", tiny_cfg, 8, 512, repeats, args.device)
    rows += time_steps("wide", wide_cfg, 2, 2048, wide_repeats, args.device)
    print(
        "\nStep time (fwd + bwd + AdamW), seconds: median wall time over repeats; */min: the "
        "fastest repeat; */cpu: median process CPU time (both less sensitive to other load); "
        "ratios from the same run"
    )
    cols = ["echo", "grpo", "grpo_act", "naive", "naive_grpo"]
    ratios = [
        ("echo/grpo", "echo", "grpo"),
        ("echo/grpo_act", "echo", "grpo_act"),
        ("grpo/grpo_act", "grpo", "grpo_act"),
        ("echo/naive", "echo", "naive"),
        ("echo/naive_grpo", "echo", "naive_grpo"),
    ]
    print(
        f"{'model':9} {'shape':26} {'act%':>5} {'env%':>5} "
        + " ".join(f"{c:>10}" for c in cols)
        + " "
        + " ".join(f"{r[0]:>15}" for r in ratios)
    )
    for r in rows:
        print(
            f"{r['name']:9} {r['shape']:26} {100 * r['frac_action']:5.1f} "
            f"{100 * r['frac_env']:5.1f} "
            + " ".join(f"{r[c]:10.4f}" for c in cols)
            + " "
            + " ".join(f"{r[a] / r[b]:15.3f}" for _, a, b in ratios)
        )
    print(f"goal: echo/grpo <= 1.02   (loadavg(1m) now {os.getloadavg()[0]:.2f})")

    mem = run_memory(args.mem_b, args.mem_t, args.mem_v, args.mem_h, args.chunk, args.device)
    c, n = mem["chunked"], mem["naive"]
    one_logits = args.mem_b * args.mem_t * args.mem_v * 4
    print(
        f"\nPeak memory of hidden states -> ECHO loss -> backward (fresh process each), "
        f"B{args.mem_b} T{args.mem_t} V{args.mem_v} H{args.mem_h} chunk {args.chunk}"
    )
    print(f"{'path':8} {'peak MiB':>9} {'loss':>10}")
    for r in (c, n):
        print(f"{r['path']:8} {r['peak_bytes'] / 2**20:9.1f} {r['loss']:10.5f}")
    print(f"one [B,T,V] float32 tensor = {one_logits / 2**20:.0f} MiB")
    print(
        f"chunked/naive peak = {c['peak_bytes'] / n['peak_bytes']:.3f}   (goal <= 0.25); "
        f"same loss: {abs(c['loss'] - n['loss']) < 1e-4}, "
        f"same grad norm: {abs(c['grad_w_norm'] - n['grad_w_norm']) < 1e-3 * n['grad_w_norm']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
