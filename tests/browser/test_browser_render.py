"""Browser transcripts through the core: rendered oracle transcripts put url, title, dialog and
page under their channels token for token; notices are never trained."""

from __future__ import annotations

import pytest

from envlearn.config import load_config
from envlearn.models import load_tokenizer
from envlearn.plugins import load_tasks, make_adapter
from envlearn.render import ChatRenderer
from envlearn.rollout import oracle_rollouts
from envlearn.transcript import Source

pytestmark = pytest.mark.integration

# a login (page change), a form with a select, dynamic content with a confirm and an alert
TASK_IDS = ["web-login-change-email", "web-form-signup", "web-dynamic-delete"]


def test_rendered_browser_transcripts_decode_exactly_per_channel():
    tok = load_tokenizer()
    renderer = ChatRenderer(tok)
    tasks = [t for t in load_tasks("browser") if t.id in TASK_IDS]
    assert len(tasks) == len(TASK_IDS)
    cfg = load_config(None, ["tasks.suite=browser", "rollout.max_episode_tokens=16384"]).rollout
    seen: dict[str, list] = {}

    def factory(task):
        a = make_adapter("browser")
        step = a.step

        def recording_step(text):
            obs = step(text)
            seen.setdefault(task.id, []).append(obs)
            return obs

        a.step = recording_step
        return a

    rollouts = oracle_rollouts(tasks, renderer, factory, cfg)
    assert [(r.status, r.reward) for r in rollouts] == [("ok", 1.0)] * len(tasks), rollouts
    channels_seen: set[str] = set()
    for r in rollouts:
        tr = r.samples[0]
        env = tr.env_mask()

        def text(pred, tr=tr):
            return tok.decode(tr.select(pred), skip_special_tokens=False)

        for ch in ("url", "title", "page", "dialog", "console"):
            got = text(lambda i, ch=ch, env=env, tr=tr: env[i] and tr.channels[i] == ch)
            want = "".join(o.content_text(ch) for o in seen[r.task_id])
            assert got == want, (r.task_id, ch)
            if want:
                channels_seen.add(ch)
        notices = text(lambda i, tr=tr: tr.sources[i] == Source.NOTICE and tr.turns[i] >= 1)
        assert notices == "".join(
            p.text for o in seen[r.task_id] for p in o.parts if p.kind == "notice"
        )
        assert not any(env[i] for i in range(len(tr)) if tr.sources[i] == Source.NOTICE)
    assert {"url", "title", "page", "dialog"} <= channels_seen
