"""Render a conversation through the model's own chat template, token by token, with Sources.

How attribution stays exact:

1. The chat template is rendered with *sentinel* strings in place of every message's content.
   Splitting the result on the sentinels yields the template's own scaffolding (role headers,
   end-of-turn markers, the generation prompt) between content slots.
2. Each piece is tokenized on its own: scaffolding with special-token parsing on, content
   (system prompt, instruction, observation parts) with special tokens split, so an environment
   that prints ``<|im_end|>`` cannot forge a turn boundary.  No BPE merge crosses a piece
   boundary, so decoding the tokens of a piece gives back exactly its text.
3. The policy's sampled ids are appended as sampled.  Each observation is appended as a delta:
   the scaffolding that closes the action's turn, the parts, and the next generation prompt.
4. After every turn the decoded transcript is compared with the template's rendering of the
   real messages (the prefix property).  A template that rewrites history (e.g. drops thinking
   blocks) fails this check with :class:`PrefixBroken`; the caller then starts a new sample
   with :meth:`ChatRenderer.restart` instead of training on corrupted masks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from envlearn.channels import Observation, Part
from envlearn.transcript import Source, Transcript

__all__ = ["ChatRenderer", "PrefixBroken", "TemplateError"]

_SENTINEL = "\ue000ENVLEARN{}\ue001"
_SENTINEL_RE = re.compile("\ue000ENVLEARN(\\d+)\ue001")


class TemplateError(ValueError):
    """The tokenizer's chat template can't be used for token-exact rendering."""


class PrefixBroken(RuntimeError):
    """The template's rendering of the conversation no longer extends the transcript."""


def _cut_notice(budget: int, omitted_chars: int) -> str:
    return (
        f"\n[observation cut at its {budget}-token budget: {omitted_chars} characters not shown]\n"
    )


class ChatRenderer:
    """Builds :class:`Transcript` s through ``tokenizer``'s chat template.

    :param observation_role: the chat role observations are sent with (``tool`` for ChatML and
        Qwen3 templates; use ``user`` for templates without a tool role).
    :param max_observation_tokens: per-observation budget over all its parts, notices
        included; what is beyond it is cut (at a token boundary that decodes cleanly) and one
        short notice, within the budget, says how much was omitted.
    :param check_prefix: compare decoded tokens with the template's rendering every turn.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        observation_role: str = "tool",
        max_observation_tokens: int | None = None,
        check_prefix: bool = True,
    ) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise TemplateError("ChatRenderer needs a fast tokenizer (tokenizers backend)")
        if not getattr(tokenizer, "chat_template", None):
            raise TemplateError("the tokenizer has no chat_template; set tokenizer.chat_template")
        self.tok = tokenizer
        self.observation_role = observation_role
        self.max_observation_tokens = max_observation_tokens
        self.check_prefix = check_prefix
        self._scaffold_cache: dict[tuple[tuple[str, ...], bool], list[str]] = {}
        # the scaffolding that closes an assistant turn tells us the end-of-turn token
        pieces = self._scaffold(["user", "assistant", observation_role], gen=True)
        after_action = pieces[2]
        ids = self._encode_scaffold(after_action)
        if not ids or ids[0] not in set(tokenizer.all_special_ids):
            raise TemplateError(
                "the chat template does not close an assistant turn with a special token "
                f"(it writes {after_action!r} after the content); envlearn needs one to stop "
                "generation exactly"
            )
        self.end_of_turn_id: int = ids[0]
        self.end_of_turn_text: str = tokenizer.decode([ids[0]])
        if not after_action.startswith(self.end_of_turn_text):
            raise TemplateError(f"end-of-turn token text {self.end_of_turn_text!r} mismatch")

    # -- tokenization ------------------------------------------------------------------------

    def _encode_scaffold(self, text: str) -> list[int]:
        if not text:
            return []
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def encode_content(self, text: str) -> list[int]:
        """Tokens of untrusted text: special-token strings stay plain text."""
        if not text:
            return []
        return list(
            self.tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        )

    def decode(self, ids: Sequence[int]) -> str:
        return self.tok.decode(
            list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    @property
    def stop_token_ids(self) -> list[int]:
        """Token ids that end an action (pass them to the policy)."""
        return [self.end_of_turn_id]

    # -- the template with sentinels ---------------------------------------------------------

    def _render(self, messages: list[dict[str, str]], gen: bool) -> str:
        try:
            return self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
        except Exception as e:  # jinja raises many things; one clear error
            roles = [m["role"] for m in messages]
            raise TemplateError(
                f"the chat template failed to render roles {roles}: {e}. If it has no "
                f"{self.observation_role!r} role, use ChatRenderer(observation_role='user')"
            ) from e

    def _scaffold(self, roles: list[str], gen: bool) -> list[str]:
        """Template text between content slots: ``len(roles) + 1`` strings (cached by roles)."""
        key = (tuple(roles), gen)
        if key not in self._scaffold_cache:
            self._scaffold_cache[key] = self._scaffold_uncached(roles, gen)
        return list(self._scaffold_cache[key])

    def _scaffold_uncached(self, roles: list[str], gen: bool) -> list[str]:
        msgs = [{"role": r, "content": _SENTINEL.format(i)} for i, r in enumerate(roles)]
        text = self._render(msgs, gen)
        pieces = _SENTINEL_RE.split(text)
        found = [int(x) for x in pieces[1::2]]
        if found != list(range(len(roles))):
            raise TemplateError(
                "the chat template does not insert each message's content verbatim exactly once "
                f"(slots found in order: {found}); token-exact rendering is impossible with it"
            )
        return pieces[0::2]

    # -- building ----------------------------------------------------------------------------

    def start(
        self, system: str | None, instruction: str, initial: Observation | None = None
    ) -> Transcript:
        """A transcript holding the prompt, ending with the generation prompt."""
        tr = Transcript()
        roles: list[str] = []
        if system:
            roles.append("system")
            tr.messages.append({"role": "system", "content": system})
        roles.append("user")
        parts = self._budget(initial.parts) if initial is not None else []
        sep = "\n\n" if parts and instruction else ""
        user_text = instruction + sep + "".join(p.text for p in parts)
        tr.messages.append({"role": "user", "content": user_text})
        pieces = self._scaffold(roles, gen=True)
        tr.extend(self._encode_scaffold(pieces[0]), Source.SCAFFOLD, turn=0)
        k = 1
        if system:
            tr.extend(self.encode_content(system), Source.PROMPT, turn=0)
            tr.extend(self._encode_scaffold(pieces[k]), Source.SCAFFOLD, turn=0)
            k += 1
        tr.extend(self.encode_content(instruction + sep), Source.PROMPT, turn=0)
        self._extend_parts(tr, parts, turn=0)
        tr.extend(self._encode_scaffold(pieces[k]), Source.SCAFFOLD, turn=0)
        self._check(tr)
        return tr

    def append_action(
        self, tr: Transcript, token_ids: Sequence[int], logprobs: Sequence[float] | None = None
    ) -> str:
        """Append the policy's sampled ids as sampled; returns the action text (no stop token)."""
        if tr.messages and tr.messages[-1]["role"] == "assistant":
            raise ValueError("append_action twice without an observation in between")
        ids = list(token_ids)
        tr.n_actions += 1
        tr.extend(ids, Source.ACTION, turn=tr.n_actions, logprobs=logprobs)
        body = ids[:-1] if ids and ids[-1] == self.end_of_turn_id else ids
        text = self.decode(body)
        tr.messages.append({"role": "assistant", "content": text})
        return text

    def append_observation(self, tr: Transcript, obs: Observation, *, final: bool = False) -> None:
        """Close the action's turn, append the observation's parts and the next generation prompt.

        With ``final=True`` no generation prompt follows (the episode is over).  On
        :class:`PrefixBroken` the transcript is left exactly as it was before the call.
        """
        if not tr.messages or tr.messages[-1]["role"] != "assistant":
            raise ValueError("append_observation needs an action first (call append_action)")
        roles = [m["role"] for m in tr.messages]
        prev = self._scaffold(roles[:-1], gen=True)
        pieces = self._scaffold(roles + [self.observation_role], gen=not final)
        if pieces[: len(prev)] != prev:
            raise PrefixBroken("the chat template renders earlier turns differently now")
        after_action, after_obs = pieces[-2], pieces[-1]
        if (
            tr.token_ids
            and tr.token_ids[-1] == self.end_of_turn_id
            and tr.sources[-1] == Source.ACTION
        ):
            after_action = after_action[len(self.end_of_turn_text) :]
        turn, n_before = tr.n_actions, len(tr)
        tr.extend(self._encode_scaffold(after_action), Source.SCAFFOLD, turn=turn)
        parts = self._budget(obs.parts)
        self._extend_parts(tr, parts, turn=turn)
        tr.extend(self._encode_scaffold(after_obs), Source.SCAFFOLD, turn=turn)
        tr.messages.append(
            {"role": self.observation_role, "content": "".join(p.text for p in parts)}
        )
        try:
            self._check(tr, gen=not final)
        except PrefixBroken:  # leave the transcript as it was: the caller decides what follows
            tr.messages.pop()
            tr.truncate(n_before)
            raise

    def observation_prompt(self, tr: Transcript) -> list[int]:
        """The scaffold ids :meth:`append_observation` would put between the last action and the
        observation's content: a model continuing ``tr.token_ids + observation_prompt(tr)``
        predicts the observation exactly where L_env trains it (predict-before-act)."""
        if not tr.messages or tr.messages[-1]["role"] != "assistant":
            raise ValueError("observation_prompt needs an action first (call append_action)")
        roles = [m["role"] for m in tr.messages]
        after_action = self._scaffold(roles + [self.observation_role], gen=True)[-2]
        if (
            tr.token_ids
            and tr.token_ids[-1] == self.end_of_turn_id
            and tr.sources[-1] == Source.ACTION
        ):
            after_action = after_action[len(self.end_of_turn_text) :]
        return self._encode_scaffold(after_action)

    def close_action(self, tr: Transcript) -> None:
        """End the transcript after a final action (no observation follows)."""
        if tr.messages and tr.messages[-1]["role"] == "assistant":
            if not (tr.token_ids and tr.token_ids[-1] == self.end_of_turn_id):
                tr.extend([self.end_of_turn_id], Source.SCAFFOLD, turn=tr.n_actions)

    def restart(self, tr: Transcript) -> Transcript:
        """A new sample whose prompt is the whole conversation so far, re-rendered as context.

        Used after :class:`PrefixBroken`: earlier actions and observations become prompt
        context (not trained again); new turns are appended to the returned transcript.
        """
        text = self._render(tr.messages, gen=True)
        new = Transcript(messages=[dict(m) for m in tr.messages], n_actions=tr.n_actions)
        new.extend(self._encode_scaffold(text), Source.PROMPT, turn=tr.n_actions)
        return new

    # -- helpers -----------------------------------------------------------------------------

    def _extend_parts(self, tr: Transcript, parts: Sequence[Part], *, turn: int) -> None:
        for p in parts:
            src = Source.OBSERVATION if p.kind == "content" else Source.NOTICE
            tr.extend(self.encode_content(p.text), src, channel=p.channel, turn=turn)

    def _budget(self, parts: Sequence[Part]) -> list[Part]:
        """Keep the observation within ``max_observation_tokens``, every part counted (notices
        too); what is cut is said in one short notice, which the budget makes room for.

        Parts are kept in order; the part that crosses the budget keeps a prefix (at a token
        boundary that decodes and re-encodes to itself), later parts are dropped.  Only a window
        of each part's text around the budget is tokenized, so a 5 MB part costs about as much as
        a budget-sized one.  (A budget smaller than the notice itself keeps just the notice.)
        """
        if self.max_observation_tokens is None:
            return list(parts)
        budget = self.max_observation_tokens
        out, used, omitted = self._fit(parts, budget)
        if not omitted:
            return out
        reserve = len(self.encode_content(_cut_notice(budget, omitted)))
        while True:
            out, used, omitted = self._fit(parts, max(0, budget - reserve))
            note = _cut_notice(budget, omitted)
            over = used + len(self.encode_content(note)) - budget
            if over <= 0 or reserve >= budget:
                return [*out, Part(channel="notice", text=note, kind="notice")]
            reserve += over

    def _fit(self, parts: Sequence[Part], limit: int) -> tuple[list[Part], int, int]:
        """The parts (in order) that fit in ``limit`` tokens, the last one cut to fit:
        (kept parts, tokens used, characters left out)."""
        out: list[Part] = []
        left = limit
        for i, p in enumerate(parts):
            ids, whole = self._head_ids(p.text, left)
            if whole and len(ids) <= left:
                out.append(p)
                left -= len(ids)
                continue
            keep = ids[:left]
            while keep and self.encode_content(self.decode(keep)) != keep:
                keep = keep[:-1]
            kept_text = self.decode(keep)
            if keep:
                out.append(Part(channel=p.channel, text=kept_text, kind=p.kind))
            omitted = len(p.text) - len(kept_text) + sum(len(q.text) for q in parts[i + 1 :])
            return out, limit - left + len(keep), omitted
        return out, limit - left, 0

    def _head_ids(self, text: str, n: int) -> tuple[list[int], bool]:
        """Tokens of a prefix of ``text`` long enough to hold more than ``n`` tokens (or of the
        whole text, then ``True``): the cost is bounded by ``n``, not by ``len(text)``."""
        window = 4 * n + 64
        while True:
            if len(text) <= window:
                return self.encode_content(text), True
            ids = self.encode_content(text[:window])
            if len(ids) > n + 1:  # the last tokens of a cut window may merge differently
                return ids, False
            window *= 2

    def _check(self, tr: Transcript, gen: bool = True) -> None:
        if not self.check_prefix:
            return
        want = self._render(tr.messages, gen=gen)
        got = self.decode(tr.token_ids)
        if got != want:
            i = next((k for k, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
            i = min(len(got), len(want)) if i is None else i
            raise PrefixBroken(
                "decoded transcript differs from the chat template's rendering at char "
                f"{i}: got {got[max(0, i - 20) : i + 20]!r}, template {want[max(0, i - 20) : i + 20]!r}"
            )
