"""Chunked token log-probs: one backbone forward, the LM head applied only where needed.

``token_logprobs`` runs the decoder once, then applies the lm_head only at the selected
positions, chunk by chunk, through :class:`ChunkedLinearLogprob` (a custom autograd Function that
recomputes each chunk's logits in backward), so no ``[batch, seq, vocab]`` float32 tensor and no
``[N, vocab]`` tensor larger than one chunk ever exists.  Pure tensors; imports nothing of
envlearn.

Shift convention: ``logprobs[b, t]`` scores token ``input_ids[b, t]`` given tokens ``< t`` (it
comes from the hidden state at ``t - 1``); position 0 is never a target.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["ChunkedLinearLogprob", "TokenLogprobModule", "token_logprobs", "token_logprobs_fixed"]


def _describe(v: object) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor of shape {list(v.shape)}, dtype {v.dtype}"
    return type(v).__name__


def _chunk_logits(
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    inv_temp: torch.Tensor,
    buf: torch.Tensor | None,
) -> torch.Tensor:
    """``(h @ W.T + b) * inv_temp`` for one chunk, in ``promote(dtype, float32)``.

    With a float32/float64 head the scale is applied to the ``[c, H]`` rows before the matmul
    and the result lands in ``buf`` (reused across chunks: no per-chunk allocation of a
    ``[c, V]`` block); a low-precision head computes in its dtype and upcasts the logits.
    """
    c = h.shape[0]
    if buf is not None:
        z = buf[:c]
        torch.mm(h * inv_temp.to(h.dtype)[:, None], weight.t(), out=z)
        if bias is not None:
            z.addr_(inv_temp.to(z.dtype), bias.to(z.dtype))
        return z
    z = F.linear(h, weight, bias)
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    return z.mul_(inv_temp.to(z.dtype)[:, None])


def _logit_buffer(
    n: int, chunk_size: int, weight: torch.Tensor, hidden: torch.Tensor, acc: torch.dtype
) -> torch.Tensor | None:
    if weight.dtype != acc or hidden.dtype != acc or n == 0:
        return None
    return torch.empty(min(n, chunk_size), weight.shape[0], dtype=acc, device=weight.device)


class ChunkedLinearLogprob(torch.autograd.Function):
    """``log_softmax((h @ W.T + b) * inv_temp)[target]`` row by row, chunked over rows.

    Inputs: ``hidden [N, H]``, ``weight [V, H]``, ``bias [V] | None``, ``targets [N] long``,
    ``inv_temp [N]`` (1 / temperature, no gradient), ``chunk_size``, and optionally
    ``fixed_coef [N]`` (no gradient).  Outputs ``(lp [N], fixed_sum [])`` in
    ``promote(hidden.dtype, float32)``, where ``fixed_sum = Σ fixed_coef · lp``.

    Forward keeps only the per-row logsumexp; backward recomputes each chunk's logits for the
    rows whose incoming ``lp`` gradient is nonzero: ``dlp/dz = inv_temp · (onehot − softmax)``,
    then ``grad_h = G @ W`` and ``grad_W += Gᵀ @ h`` per chunk.

    Rows with ``fixed_coef ≠ 0`` (the env term, whose upstream gradient is a constant known
    before the forward) get their head gradients computed *in forward*, while the chunk's
    softmax is at hand; backward only scales them by ``fixed_sum``'s incoming gradient (exact:
    the loss is linear in ``fixed_sum``), so those rows are never recomputed.  Their ``grad_W``
    accumulator becomes backward's ``grad_W`` (no extra peak).  At most one ``[chunk, V]`` float
    block is alive at a time (plus the matmul's own output for a low-precision head).
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        inv_temp: torch.Tensor,
        chunk_size: int,
        fixed_coef: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = hidden.shape[0]
        acc = torch.promote_types(torch.promote_types(hidden.dtype, weight.dtype), torch.float32)
        out = torch.empty(n, dtype=acc, device=hidden.device)
        lse = torch.empty(n, dtype=acc, device=hidden.device)
        buf = _logit_buffer(n, chunk_size, weight, hidden, acc)
        fixed = fixed_coef is not None and bool((fixed_coef != 0).any())
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        fgh = fgw = fgb = None
        if fixed:
            assert fixed_coef is not None
            frows = (fixed_coef != 0).nonzero().squeeze(1)
            if need_h:
                fgh = torch.zeros(
                    frows.numel(), hidden.shape[1], dtype=hidden.dtype, device=hidden.device
                )
            if need_w:
                fgw = torch.zeros(weight.shape, dtype=acc, device=weight.device)
            if need_b and bias is not None:
                fgb = torch.zeros(bias.shape, dtype=acc, device=bias.device)
            # position of each row among the fixed rows (-1 elsewhere)
            fpos = torch.full((n,), -1, dtype=torch.long, device=hidden.device)
            fpos[frows] = torch.arange(frows.numel(), device=hidden.device)
        for s in range(0, n, chunk_size):
            e = min(s + chunk_size, n)
            z = _chunk_logits(hidden[s:e], weight, bias, inv_temp[s:e], buf)
            target_logit = z.gather(1, targets[s:e, None]).squeeze(1)
            zmax = z.amax(dim=1)
            p = z.sub_(zmax[:, None]).exp_()
            lse_c = zmax + p.sum(dim=1).log()
            lse[s:e] = lse_c
            out[s:e] = target_logit - lse_c
            if fixed:
                assert fixed_coef is not None
                loc = (fixed_coef[s:e] != 0).nonzero().squeeze(1)
                whole = loc.numel() == e - s  # the usual case: token_logprobs puts them first
                if loc.numel():
                    # softmax = exp(z - zmax) / exp(lse - zmax), restricted to the fixed rows
                    pf = p if whole else p[loc]
                    pf.div_(torch.exp(lse_c[loc] - zmax[loc])[:, None])
                    coef = fixed_coef[s:e][loc].to(acc) * inv_temp[s:e][loc].to(acc)
                    gz = pf.mul_(-coef[:, None])
                    gz[torch.arange(loc.numel(), device=gz.device), targets[s:e][loc]] += coef
                    gz_w = gz.to(weight.dtype)
                    h = hidden[s:e] if whole else hidden[s:e][loc]
                    if fgh is not None:
                        if whole:  # consecutive fixed rows: a slice, no scatter
                            a = int(fpos[s])
                            fgh[a : a + e - s] = (gz_w @ weight).to(fgh.dtype)
                        else:
                            fgh[fpos[s:e][loc]] = (gz_w @ weight).to(fgh.dtype)
                    if fgw is not None:
                        if fgw.dtype == h.dtype:
                            fgw.addmm_(gz_w.t(), h)
                        else:
                            fgw.add_(gz_w.t() @ h)
                    if fgb is not None:
                        fgb.add_(gz.sum(0))
                    del pf, gz, gz_w
            del z, p
        del buf
        if fixed:
            assert fixed_coef is not None
            fixed_sum = (fixed_coef.to(acc) * out).sum()
            ctx.fixed_rows = frows
        else:
            fixed_sum = torch.zeros((), dtype=acc, device=hidden.device)
            ctx.fixed_rows = None
        ctx.fixed_grads = (fgh, fgw, fgb)
        ctx.save_for_backward(hidden, weight, bias, targets, inv_temp, lse)
        ctx.chunk_size = chunk_size
        return out, fixed_sum

    @staticmethod
    def backward(
        ctx: Any, grad_out: torch.Tensor, grad_fixed: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        hidden, weight, bias, targets, inv_temp, lse = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        acc = lse.dtype
        fgh, fgw, fgb = ctx.fixed_grads
        ctx.fixed_grads = (None, None, None)
        frows = ctx.fixed_rows
        grad_h = torch.zeros_like(hidden) if need_h else None
        grad_w = grad_b = None
        if frows is not None:  # the rows whose head gradients forward already computed
            gf = grad_fixed.to(acc)
            if grad_h is not None and fgh is not None:
                grad_h[frows] = (fgh * gf.to(fgh.dtype)).to(grad_h.dtype)
            if need_w and fgw is not None:
                grad_w = fgw.mul_(gf)  # reuse the forward's accumulator: no second [V, H]
            if need_b and fgb is not None:
                grad_b = fgb.mul_(gf)
        if need_w and grad_w is None:
            grad_w = torch.zeros(weight.shape, dtype=acc, device=weight.device)
        if need_b and bias is not None and grad_b is None:
            grad_b = torch.zeros(bias.shape, dtype=acc, device=bias.device)
        if need_h or need_w or need_b:
            rows = (grad_out != 0).nonzero().squeeze(1)
            compact = rows.numel() < grad_out.numel()
            h_all = hidden[rows] if compact else hidden
            g_all = grad_out[rows] if compact else grad_out
            t_all = targets[rows] if compact else targets
            it_all = inv_temp[rows] if compact else inv_temp
            lse_all = lse[rows] if compact else lse
            n, cs = h_all.shape[0], ctx.chunk_size
            gh_rows = torch.empty_like(h_all) if need_h else None
            buf = _logit_buffer(n, cs, weight, hidden, acc)
            for s in range(0, n, cs):
                e = min(s + cs, n)
                h = h_all[s:e]
                z = _chunk_logits(h, weight, bias, it_all[s:e], buf)
                p = z.sub_(lse_all[s:e, None]).exp_()  # softmax of the tempered logits
                coef = g_all[s:e].to(acc) * it_all[s:e].to(acc)  # dL/dlp · dz_tempered/dz
                gz = p.mul_(-coef[:, None])
                gz[torch.arange(e - s, device=gz.device), t_all[s:e]] += coef
                gz_w = gz.to(weight.dtype)
                if gh_rows is not None:
                    torch.mm(gz_w, weight, out=gh_rows[s:e])
                if grad_w is not None:
                    if grad_w.dtype == h.dtype:
                        grad_w.addmm_(gz_w.t(), h)
                    else:
                        grad_w.add_(gz_w.t() @ h)
                if grad_b is not None:
                    grad_b.add_(gz.sum(0))
                del z, p, gz, gz_w
            del buf
            if grad_h is not None and gh_rows is not None and n:
                if compact:
                    grad_h[rows] += gh_rows
                else:
                    grad_h += gh_rows
        if grad_w is not None:
            grad_w = grad_w.to(weight.dtype)
        if grad_b is not None:
            grad_b = grad_b.to(bias.dtype)
        return grad_h, grad_w, grad_b, None, None, None, None


def _backbone_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The model's decoder (hidden states after the final norm) and its lm_head."""
    get_dec = getattr(model, "get_decoder", None)
    get_head = getattr(model, "get_output_embeddings", None)
    if get_dec is None or get_head is None:
        raise TypeError(
            f"{type(model).__name__} is not a Hugging Face causal LM (needs get_decoder() and "
            "get_output_embeddings()); unwrap it first (e.g. accelerator.unwrap_model(model))"
        )
    backbone, head = get_dec(), get_head()
    if head is None or backbone is model or not hasattr(head, "weight"):
        raise TypeError(
            f"{type(model).__name__}: could not find a decoder and a linear lm_head "
            "(get_decoder() / get_output_embeddings())"
        )
    cfg = getattr(model, "config", None)
    for attr in ("final_logit_softcapping", "logit_scale", "logits_scaling"):
        v = getattr(cfg, attr, None) if cfg is not None else None
        if v not in (None, 1, 1.0):
            raise NotImplementedError(
                f"{type(model).__name__} transforms its logits after the lm_head "
                f"(config.{attr}={v!r}); token_logprobs applies the plain linear head only"
            )
    return backbone, head


def token_logprobs(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    positions: torch.Tensor,
    *,
    chunk_size: int = 1024,
    temperature: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """``log p(token_t | <t)`` at the ``positions`` (``[B, T]`` bool), 0 elsewhere.

    One backbone forward; the lm_head runs only on the ``N`` selected rows, ``chunk_size`` rows
    at a time (``ChunkedLinearLogprob``).  ``temperature`` is a float or a ``[B, T]`` tensor
    (per target position: the sampling temperature at action tokens, 1 at env tokens).  Returns
    ``[B, T]`` float32 (float64 for a float64 model).
    """
    lp, _ = token_logprobs_fixed(
        model,
        input_ids,
        attention_mask,
        positions,
        chunk_size=chunk_size,
        temperature=temperature,
    )
    return lp


def token_logprobs_fixed(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    positions: torch.Tensor,
    *,
    chunk_size: int = 1024,
    temperature: float | torch.Tensor = 1.0,
    fixed_coef: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``token_logprobs`` plus ``fixed_sum = Σ fixed_coef · lp`` (a scalar with gradient).

    ``fixed_coef`` (``[B, T]``, no gradient, 0 where unused; nonzero only at ``positions``) is
    the known upstream gradient of a term that is linear in the log-probs (the env CE): those
    rows' head gradients are computed in the forward pass and never recomputed (see
    ``ChunkedLinearLogprob``).  Use ``fixed_sum`` in the loss for that term and the returned
    log-probs (detached) for its metrics.
    """
    if input_ids.dim() != 2 or input_ids.dtype != torch.long:
        raise ValueError(f"input_ids must be 2-D torch.long; got {_describe(input_ids)}")
    if positions.shape != input_ids.shape or positions.dtype != torch.bool:
        raise ValueError(
            f"positions must be a bool tensor of shape {list(input_ids.shape)}; got "
            f"{_describe(positions)}"
        )
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask must have shape {list(input_ids.shape)}; got "
            f"{_describe(attention_mask)}"
        )
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1; got {chunk_size!r}")
    if bool(positions[:, :1].any()):
        raise ValueError("positions[:, 0] must be False: position 0 has no context to score it")
    sel = positions[:, 1:]
    if isinstance(temperature, torch.Tensor):
        if temperature.shape != input_ids.shape:
            raise ValueError(
                f"temperature tensor must have shape {list(input_ids.shape)}; got "
                f"{_describe(temperature)}"
            )
        t_sel = temperature[:, 1:][sel]
        if not bool((t_sel > 0).all()):
            raise ValueError("temperature must be > 0 at every selected position")
        inv_temp = t_sel.reciprocal()
    else:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature!r}")
        inv_temp = None
    f_sel = None
    if fixed_coef is not None:
        if fixed_coef.shape != input_ids.shape or not fixed_coef.is_floating_point():
            raise ValueError(
                f"fixed_coef must be a floating tensor of shape {list(input_ids.shape)}; got "
                f"{_describe(fixed_coef)}"
            )
        if bool(((fixed_coef != 0) & ~positions).any()):
            raise ValueError("fixed_coef is nonzero outside positions (it must be 0 there)")
        f_sel = fixed_coef[:, 1:][sel].detach()

    backbone, head = _backbone_and_head(model)
    hidden = backbone(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False
    ).last_hidden_state
    h_sel = hidden[:, :-1][sel]  # the hidden state at t - 1 scores token t
    targets = input_ids[:, 1:][sel]
    if inv_temp is None:
        inv_temp = torch.full(
            (h_sel.shape[0],), 1.0 / float(temperature), dtype=torch.float32, device=h_sel.device
        )
    if f_sel is not None:  # the fixed rows first: whole chunks of them, no per-chunk gathers
        order = torch.argsort((f_sel == 0).to(torch.int8), stable=True)
        h_sel, targets, inv_temp, f_sel = (
            h_sel[order],
            targets[order],
            inv_temp[order],
            f_sel[order],
        )
    lp, fixed_sum = ChunkedLinearLogprob.apply(
        h_sel, head.weight, getattr(head, "bias", None), targets, inv_temp, chunk_size, f_sel
    )
    if f_sel is not None:  # back to the positions' order
        lp = lp.new_zeros(lp.shape).index_put((order,), lp)
    out = torch.zeros(input_ids.shape, dtype=lp.dtype, device=lp.device)
    return out.masked_scatter(positions, lp), fixed_sum


class TokenLogprobModule(torch.nn.Module):
    """``token_logprobs`` as a module, so a trainer can wrap *it* (DDP/accelerate) and the
    backbone + chunked head run inside the wrapper's forward (not verified on multi-GPU here)."""

    def __init__(self, model: torch.nn.Module, *, chunk_size: int = 1024) -> None:
        super().__init__()
        self.model = model
        self.chunk_size = chunk_size

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        positions: torch.Tensor,
        temperature: float | torch.Tensor = 1.0,
    ) -> torch.Tensor:
        """See ``token_logprobs``."""
        return token_logprobs(
            self.model,
            input_ids,
            attention_mask,
            positions,
            chunk_size=self.chunk_size,
            temperature=temperature,
        )
