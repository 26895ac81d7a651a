"""The observation-channel interface: what every adapter returns and what the core trains on.

An adapter owns one kind of environment (a terminal, a browser, an HTTP API, a debugger, a text
game).  It speaks *text* only: actions come in as the model's text, observations go out as typed
:class:`Part` s.  Tokenization, masks and losses belong to the core, so every domain is masked the
same way.

Each part names its ``channel`` (``stdout``, ``http_body``, ``narration``, ...) and its ``kind``:

* ``content``: what the environment really said.  Trained by the environment loss (L_env).
* ``notice``: what the harness adds (truncation markers, timeouts, sandbox refusals, format
  hints).  Shown to the model, never trained.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CHANNEL_NAME_RE",
    "Adapter",
    "BaseAdapter",
    "ChannelSpec",
    "EpisodeError",
    "Kind",
    "Observation",
    "Part",
    "Task",
    "content",
    "notice",
]

Kind = Literal["content", "notice"]
CHANNEL_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _check_channel_name(name: str) -> str:
    if not CHANNEL_NAME_RE.match(name):
        raise ValueError(
            f"channel name {name!r} is invalid: use lowercase letters, digits and '_', starting "
            "with a letter (e.g. 'stdout', 'http_body')"
        )
    return name


class Part(BaseModel):
    """One typed piece of an observation: a channel name, its text, and whether it is trained."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: str
    text: str
    kind: Kind = "content"

    @field_validator("channel")
    @classmethod
    def _valid_channel(cls, v: str) -> str:
        return _check_channel_name(v)


def content(channel: str, text: str) -> Part:
    """A part the environment really produced (trained by L_env)."""
    return Part(channel=channel, text=text, kind="content")


def notice(text: str, channel: str = "notice") -> Part:
    """A part the harness adds (never trained)."""
    return Part(channel=channel, text=text, kind="notice")


class Observation(BaseModel):
    """What the environment says back after ``reset`` or one ``step``.

    ``parts`` are rendered in order, their texts concatenated verbatim into one observation
    message: adapters include their own separators (newlines) in the part texts.
    ``done`` ends the episode.  ``reward`` is an optional environment reward for this step; the
    task's verifier (``Adapter.score``) gives the episode reward.
    """

    model_config = ConfigDict(extra="forbid")

    parts: list[Part] = Field(default_factory=list)
    done: bool = False
    reward: float | None = None
    info: dict[str, Any] = Field(default_factory=dict)

    @field_validator("parts", mode="before")
    @classmethod
    def _parts_are_parts(cls, v: Any) -> Any:
        if not isinstance(v, list | tuple):
            raise ValueError(
                f"parts must be a list of Part, got {type(v).__name__}; "
                "build them with envlearn.channels.content(channel, text) or notice(text)"
            )
        for i, p in enumerate(v):
            if isinstance(p, str):
                raise ValueError(
                    f"parts[{i}] is a bare string {p[:40]!r}: wrap it as "
                    "content(channel, text) or notice(text) so the core knows whether to train it"
                )
        return v

    @property
    def text(self) -> str:
        """All part texts concatenated, as the model sees them."""
        return "".join(p.text for p in self.parts)

    def content_text(self, channel: str | None = None) -> str:
        """The concatenated text of content parts (optionally of one channel)."""
        return "".join(
            p.text
            for p in self.parts
            if p.kind == "content" and (channel is None or p.channel == channel)
        )


class ChannelSpec(BaseModel):
    """A channel an adapter declares it may emit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: Kind = "content"
    description: str = ""

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        return _check_channel_name(v)


class Task(BaseModel):
    """A task is data: an instruction, a split, the adapter that runs it and its own settings.

    ``data`` holds what the adapter needs (paths, setup, verifier, seeds); ``oracle`` is a list of
    action texts, in the adapter's action format, that solves the task (used by tests, SFT warm
    starts and conformance checks).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    adapter: str
    instruction: str
    split: Literal["train", "heldout"] = "train"
    max_turns: int = Field(default=8, ge=1)
    time_limit_s: float | None = Field(default=None, gt=0)
    oracle: list[str] | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_nonempty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("task id must be a non-empty string")
        return v


class EpisodeError(RuntimeError):
    """Raised by an adapter for an infrastructure fault (not a model mistake).

    The rollout engine marks the rollout ``failed`` and keeps it out of group statistics.
    Model mistakes (bad format, failing commands) are observations, never exceptions.
    """


@runtime_checkable
class Adapter(Protocol):
    """One environment episode at a time, driven from one thread.

    Lifecycle: ``reset(task, seed=...)`` → ``step(action_text)``... until ``Observation.done`` or
    the turn budget → ``score()`` → ``close()`` (idempotent).  ``reset`` may be called again to
    start a new episode on the same instance.

    Thread affinity: the rollout engine builds each episode's adapter, and calls its ``reset``,
    ``step``, ``score`` and ``close``, on one dedicated thread for the episode's whole life, so
    thread-bound objects (Playwright's sync API, a debugger binding) made in ``reset`` can be
    used in ``step``.  Different episodes run on different threads at once: instances share no
    mutable state.  There are no async variants: an adapter built on asyncio runs its own loop
    (or submits to a run-scoped one) inside these methods.
    """

    name: ClassVar[str]
    channels: ClassVar[Sequence[ChannelSpec]]
    deterministic: ClassVar[bool]

    def system_prompt(self, task: Task) -> str:
        """The system message: what the environment is and how to write an action."""
        ...

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """Start an episode of ``task`` (all randomness drawn from ``seed``)."""
        ...

    def step(self, action_text: str) -> Observation:
        """Act on the model's reply; a malformed reply gets a notice, never an exception."""
        ...

    def score(self) -> float:
        """Run the task's verifier on the current state: reward in [0, 1]."""
        ...

    def close(self) -> None:
        """Release everything the episode holds (processes reaped); safe to call twice."""
        ...


class BaseAdapter:
    """Convenience base: the class attributes' defaults and a context manager that closes.

    Subclasses set ``name``, ``channels`` and implement ``system_prompt``, ``reset``, ``step``,
    ``score`` and ``close``.
    """

    name: ClassVar[str] = ""
    channels: ClassVar[Sequence[ChannelSpec]] = ()
    deterministic: ClassVar[bool] = False

    def system_prompt(self, task: Task) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:  # pragma: no cover
        raise NotImplementedError

    def step(self, action_text: str) -> Observation:  # pragma: no cover
        raise NotImplementedError

    def score(self) -> float:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
