"""Benchmark the objective: ECHO's cost over GRPO, and the chunked head's memory.

Run:  .venv/bin/python bench/objective.py            (tiny + wide shapes, then Qwen3-0.6B's)
      .venv/bin/python bench/objective.py --quick    (smaller repeats, no 0.6B: a smoke run)
      .venv/bin/python bench/objective.py --only-0p6b

1. Step time (forward + backward, + AdamW at the small shapes), same batch, same model,
   variants interleaved round by round so drift hits all alike; medians of wall time and of
   process CPU time (the latter less disturbed by other processes on a shared machine):
   - ``echo``: objective(mode=echo), env_token_fraction 1.0 (env rows' head gradients fused
     into the forward); ``echo25``: env_token_fraction 0.25; ``echo_nofuse``: 1.0 without the
     fused env gradient (recomputed in backward, as before).
   - ``grpo``: objective(mode=grpo): action rows trained, env rows scored for the env-CE metric
     (lm_head forward only).  ``grpo_act``: action rows only (no env-CE metric).
   - ``naive_grpo``: GRPO through full ``model(...).logits`` + log_softmax (what TRL computes:
     the lm_head forward and backward over every position).
   Masks: 15 % prompt, then turns of (action, 3× as long observation): ≈ 21 % action tokens,
   ≈ 64 % env tokens.
   Next to each ratio, the FLOP bound: the ratio if time were proportional to FLOPs, with the
   backbone at 2·params·tokens + 4·T²·heads·head_dim per layer forward (×3 with backward) and
   the lm_head at 2·H·V per row per matmul, each at its minimum: an action row 3 matmuls
   (logits, grad_h, grad_W), a trained env row 3, a metric-only env row 1, an unscored row 0;
   full-logits GRPO: 3 for every position.
2. Peak memory of the loss path alone (hidden states → ECHO loss → backward; the backbone
   excluded), chunked vs naive full logits, each in a fresh subprocess.  Method: inputs are
   built, then the kernel's peak-RSS counter is reset (``echo 5 > /proc/self/clear_refs``) and
   the path is run; peak = VmHWM − VmRSS before the run.  On CUDA ``--device cuda`` uses
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
    StepNorms,
    compute_loss,
    count_norms,
    env_coefficients,
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


def flop_bounds(mcfg: TinyModelConfig, batch: Batch) -> dict[str, float]:
    """Minimum FLOPs of one step (forward + backward) per variant: the backbone's, plus the
    lm_head's at each row's minimum number of ``[H] x [H, V]`` products (see the docstring)."""
    bsz, seqlen = batch.input_ids.shape
    h, v, n_l = mcfg.hidden_size, mcfg.vocab_size, mcfg.num_hidden_layers
    attn_w = mcfg.num_attention_heads * mcfg.head_dim
    kv_w = mcfg.num_key_value_heads * mcfg.head_dim
    layer_params = h * (2 * attn_w + 2 * kv_w) + 3 * h * mcfg.intermediate_size
    fwd = n_l * (2 * layer_params * bsz * seqlen + 4 * bsz * seqlen**2 * attn_w)
    backbone = 3 * fwd
    row = 2 * h * v
    n_a = float(batch.action_mask.sum())
    n_e = float(batch.env_mask.sum())
    return {
        "grpo": backbone + row * (3 * n_a + n_e),
        "grpo_act": backbone + row * 3 * n_a,
        "echo": backbone + row * (3 * n_a + 3 * n_e),
        "echo25": backbone + row * (3 * n_a + 3 * 0.25 * n_e),
        "naive_grpo": backbone + row * 3 * bsz * (seqlen - 1),
    }


def time_steps(
    name: str,
    mcfg: TinyModelConfig,
    bsz: int,
    seqlen: int,
    repeats: int,
    device: str,
    *,
    variants: list[str],
    optimizer: bool = True,
    warmup: bool = True,
) -> dict:
    """Median wall and CPU time per variant, variants interleaved round by round."""
    model = tiny_model(mcfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5) if optimizer else None
    batch = make_batch(bsz, seqlen, mcfg.vocab_size, device=device)
    cfgs = {
        "echo": ObjectiveConfig(mode="echo", env_lambda=0.1),
        "echo25": ObjectiveConfig(mode="echo", env_lambda=0.1, env_token_fraction=0.25),
        "echo_nofuse": ObjectiveConfig(mode="echo", env_lambda=0.1, fused_env_grad=False),
        "grpo": ObjectiveConfig(mode="grpo"),
    }
    gen = torch.Generator().manual_seed(0)
    fns = {
        "echo": lambda: objective(model, batch, cfgs["echo"]),
        "echo25": lambda: objective(model, batch, cfgs["echo25"], generator=gen),
        "echo_nofuse": lambda: objective(model, batch, cfgs["echo_nofuse"]),
        "grpo": lambda: objective(model, batch, cfgs["grpo"]),
        "grpo_act": lambda: _grpo_action_only(model, batch, cfgs["grpo"]),
        "naive_grpo": lambda: _naive(model, batch, cfgs["grpo"]),
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for rnd in range(repeats + (1 if warmup else 0)):
        for k in variants:
            model.zero_grad(set_to_none=True)
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            loss, _ = fns[k]()
            loss.backward()
            if opt is not None:
                opt.step()
            _sync(device)
            if rnd > 0 or not warmup:
                times[k].append(time.perf_counter() - t0)
                cpu[k].append(time.process_time() - c0)
    return {
        "name": name,
        "shape": f"B{bsz} T{seqlen} V{mcfg.vocab_size} H{mcfg.hidden_size} L{mcfg.num_hidden_layers}",
        "frac_action": float(batch.action_mask.float().mean()),
        "frac_env": float(batch.env_mask.float().mean()),
        "wall": {k: statistics.median(v) for k, v in times.items()},
        "cpu": {k: statistics.median(v) for k, v in cpu.items()},
        "n": repeats,
        "flops": flop_bounds(mcfg, batch),
        "optimizer": optimizer,
    }


RATIOS = [
    ("echo/grpo", "echo", "grpo"),
    ("echo25/grpo", "echo25", "grpo"),
    ("echo/grpo_act", "echo", "grpo_act"),
    ("echo/naive_grpo", "echo", "naive_grpo"),
    ("echo25/naive_grpo", "echo25", "naive_grpo"),
    ("nofuse/echo", "echo_nofuse", "echo"),
]


def print_times(rows: list[dict]) -> None:
    """Times per variant, then each ratio (wall, CPU) next to its FLOP bound."""
    for r in rows:
        opt = "fwd+bwd+AdamW" if r["optimizer"] else "fwd+bwd"
        print(
            f"\n{r['name']}: {r['shape']}  action {100 * r['frac_action']:.1f}%  env "
            f"{100 * r['frac_env']:.1f}%  ({opt}, median of {r['n']})"
        )
        print(f"  {'variant':12} {'wall s':>9} {'cpu s':>9}")
        for k in r["wall"]:
            print(f"  {k:12} {r['wall'][k]:9.3f} {r['cpu'][k]:9.3f}")
        print(f"  {'ratio':18} {'wall':>7} {'cpu':>7} {'FLOP bound':>10} {'cpu/bound':>9}")
        for label, a, b in RATIOS:
            if a not in r["wall"] or b not in r["wall"]:
                continue
            fa, fb = r["flops"].get(a), r["flops"].get(b)
            bound = fa / fb if fa is not None and fb is not None else float("nan")
            cr = r["cpu"][a] / r["cpu"][b]
            print(
                f"  {label:18} {r['wall'][a] / r['wall'][b]:7.3f} {cr:7.3f} {bound:10.3f} "
                f"{cr / bound:9.3f}"
            )


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
    env_term = None
    if path == "chunked":  # the objective's path: env rows' head gradients fused in forward
        sel = pos[:, 1:]
        coef = -cfg.env_lambda * env_coefficients(
            batch, cfg, StepNorms.from_counts(count_norms(batch))
        )
        lp_sel, env_term = ChunkedLinearLogprob.apply(
            h[:, :-1][sel],
            w,
            None,
            batch.input_ids[:, 1:][sel],
            torch.ones(int(sel.sum()), device=device),
            chunk,
            coef.to(torch.float32)[:, 1:][sel],
        )
        lp = torch.zeros(pos.shape, device=device).masked_scatter(pos, lp_sel)
    else:
        logits = h @ w.T
        lp = torch.zeros(pos.shape, device=device)
        lp[:, 1:] = torch.log_softmax(logits[:, :-1].float(), -1).gather(
            2, batch.input_ids[:, 1:, None]
        )[..., 0]
        del logits
    loss, _ = compute_loss(lp, batch, cfg, env_term=env_term)
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
    """Print the step-time tables and the memory table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, no 0.6B (smoke run)")
    p.add_argument("--only-0p6b", action="store_true", help="only Qwen3-0.6B's shape")
    p.add_argument("--rounds-0p6b", type=int, default=2, help="interleaved rounds at 0.6B")
    p.add_argument("--no-memory", action="store_true", help="skip the memory table")
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
        f"loadavg(1m)={os.getloadavg()[0]:.2f} (other work on the machine skews every figure; "
        "compare the CPU-time ratios)"
    )
    small = ["echo", "echo25", "echo_nofuse", "grpo", "grpo_act", "naive_grpo"]
    rows = []
    if not args.only_0p6b:
        repeats = 3 if args.quick else 5
        rows.append(
            time_steps("tiny", TinyModelConfig(), 8, 512, repeats, args.device, variants=small)
        )
        wide = TinyModelConfig(
            vocab_size=32768,
            hidden_size=256,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=64,
            intermediate_size=512,
        )
        rows.append(time_steps("wide", wide, 2, 2048, 2, args.device, variants=small))
    if not args.quick:
        # Qwen3-0.6B's config (all 28 layers), random weights, T = 1024: forward + backward only
        # (no AdamW: its cost is the same for every variant), --rounds-0p6b interleaved rounds,
        # no warm-up: each step is about 4 TFLOP, a minute or more of CPU
        qwen06 = TinyModelConfig(
            vocab_size=151936,
            hidden_size=1024,
            num_hidden_layers=28,
            num_attention_heads=16,
            num_key_value_heads=8,
            head_dim=128,
            intermediate_size=3072,
            max_position_embeddings=40960,
            tie_word_embeddings=True,
        )
        rows.append(
            time_steps(
                "qwen3-0.6b",
                qwen06,
                1,
                1024,
                args.rounds_0p6b,
                args.device,
                variants=["echo", "echo25", "grpo", "naive_grpo"],
                optimizer=False,
                warmup=False,
            )
        )
    print_times(rows)
    print(
        "goals: echo/grpo within 5 % of its FLOP bound; echo25/grpo <= 1.05 at the 0.6B shape; "
        f"echo/naive_grpo <= 1.0 everywhere   (loadavg(1m) now {os.getloadavg()[0]:.2f})"
    )

    if args.no_memory:
        return 0
    shapes = [(args.mem_b, args.mem_t, args.mem_v, args.mem_h, "current")]
    if not args.quick:
        shapes.append((1, 1024, 151936, 1024, "qwen3-0.6b head"))
    print("\nPeak memory of hidden states -> ECHO loss -> backward (fresh process each)")
    print(
        f"{'shape':34} {'chunk':>5} {'chunked MiB':>11} {'naive MiB':>10} {'ratio':>6} {'[B,T,V] f32 MiB':>15}"
    )
    for bsz, seqlen, vocab, hidden, label in shapes:
        for chunk in sorted({args.chunk, 256}):
            mem = run_memory(bsz, seqlen, vocab, hidden, chunk, args.device)
            c, n = mem["chunked"], mem["naive"]
            same = (
                abs(c["loss"] - n["loss"]) < 1e-4
                and abs(c["grad_w_norm"] - n["grad_w_norm"]) < 1e-3 * n["grad_w_norm"]
            )
            print(
                f"{label + f' B{bsz} T{seqlen} V{vocab} H{hidden}':34} {chunk:5d} "
                f"{c['peak_bytes'] / 2**20:11.1f} {n['peak_bytes'] / 2**20:10.1f} "
                f"{c['peak_bytes'] / n['peak_bytes']:6.3f} {bsz * seqlen * vocab * 4 / 2**20:15.0f}"
                + ("" if same else "   (loss/grad MISMATCH)")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
