"""Token-exact transcripts: every token id with its Source, channel and turn.

A :class:`Transcript` is what one rollout sample looks like to the trainer.  It only grows by
appending (the renderer in :mod:`envlearn.render` appends); the policy's sampled ids are stored
as sampled.  From it come the per-token features the objective needs:

* ``action_mask``: tokens the policy sampled (trained by the RL term).
* ``env_mask``: observation *content* tokens of turns after the first action (trained by L_env).
* ``env_weight``: the channel weight λ_c on ``env_mask`` tokens, 0 elsewhere.

Notices, chat-template scaffolding, the system prompt and the task instruction are never in
either mask.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = ["Source", "Transcript"]


class Source(IntEnum):
    """Where a token came from."""

    PROMPT = 0  # system prompt and task instruction
    ACTION = 1  # sampled by the policy
    SCAFFOLD = 2  # chat-template tokens around messages
    OBSERVATION = 3  # environment content (with a channel)
    NOTICE = 4  # harness notices (with a channel), never trained


@dataclass
class Transcript:
    """One sample: token ids plus, per token, its source, channel and turn.

    ``turns[i]`` is 0 for the prompt and the observation returned by ``reset``; action ``k``
    (1-based) and the observation that answers it carry turn ``k``.
    """

    token_ids: list[int] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    channels: list[str | None] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    logprobs: list[float | None] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    n_actions: int = 0

    def __len__(self) -> int:
        return len(self.token_ids)

    def extend(
        self,
        ids: Sequence[int],
        source: Source,
        *,
        channel: str | None = None,
        turn: int | None = None,
        logprobs: Sequence[float] | None = None,
    ) -> None:
        """Append ``ids`` all with the same source/channel/turn."""
        n = len(ids)
        if logprobs is not None and len(logprobs) != n:
            raise ValueError(f"got {len(logprobs)} logprobs for {n} tokens")
        t = self.n_actions if turn is None else turn
        self.token_ids.extend(int(i) for i in ids)
        self.sources.extend([source] * n)
        self.channels.extend([channel] * n)
        self.turns.extend([t] * n)
        self.logprobs.extend(list(logprobs) if logprobs is not None else [None] * n)

    def truncate(self, n: int) -> None:
        """Drop every token from position ``n`` on (undo a partial append)."""
        for seq in (self.token_ids, self.sources, self.channels, self.turns, self.logprobs):
            del seq[n:]

    # -- masks ------------------------------------------------------------------------------

    def action_mask(self) -> list[bool]:
        return [s == Source.ACTION for s in self.sources]

    def env_mask(self) -> list[bool]:
        return [
            s == Source.OBSERVATION and t >= 1
            for s, t in zip(self.sources, self.turns, strict=True)
        ]

    def env_weight(
        self, channel_weights: Mapping[str, float] | None = None, default: float = 1.0
    ) -> list[float]:
        """λ_c per token on ``env_mask`` tokens (``channel_weights`` by channel, else default)."""
        cw = channel_weights or {}
        return [
            float(cw.get(c or "", default)) if m else 0.0
            for m, c in zip(self.env_mask(), self.channels, strict=True)
        ]

    def select(self, pred: Callable[[int], bool]) -> list[int]:
        """Token ids at positions where ``pred(i)`` holds."""
        return [tid for i, tid in enumerate(self.token_ids) if pred(i)]

    def count(self, source: Source) -> int:
        return sum(1 for s in self.sources if s == source)

    # -- (de)serialisation: rollouts are saved as JSON rows ------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_ids": self.token_ids,
            "sources": [int(s) for s in self.sources],
            "channels": self.channels,
            "turns": self.turns,
            "logprobs": self.logprobs,
            "messages": self.messages,
            "n_actions": self.n_actions,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Transcript:
        n = len(d["token_ids"])
        for key in ("sources", "channels", "turns", "logprobs"):
            if len(d[key]) != n:
                raise ValueError(f"transcript field {key!r} has {len(d[key])} entries, not {n}")
        return cls(
            token_ids=list(d["token_ids"]),
            sources=[Source(s) for s in d["sources"]],
            channels=list(d["channels"]),
            turns=list(d["turns"]),
            logprobs=list(d["logprobs"]),
            messages=[dict(m) for m in d.get("messages", [])],
            n_actions=int(d.get("n_actions", 0)),
        )
