"""Policies: HFPolicy against teacher forcing, OpenAICompatiblePolicy against a fake vLLM server,
VLLMPolicy's missing-vLLM error and pure helpers.  Expected runtime: ~10 s on 2 cores."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from envlearn.models import load_tokenizer, tiny_model
from envlearn.policies import (
    Generation,
    HFPolicy,
    OpenAICompatiblePolicy,
    PolicyError,
    SamplingParams,
)
from envlearn.policies.base import finish, prompt_seed, validate_prompts
from envlearn.policies.openai import completions_url, parse_token
from envlearn.policies.vllm import (
    VLLMPolicy,
    hf_weights,
    parse_vllm_output,
    vllm_sampling_kwargs,
)

PROMPTS = [[5, 6, 7, 8, 9, 10, 11, 12, 13], [20, 21], [30, 31, 32, 33, 34]]  # different lengths


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def policy(model, tokenizer) -> HFPolicy:
    return HFPolicy(model, tokenizer)


def teacher_forced_logprobs(model, prompt: list[int], gen: list[int], temperature: float):
    """Log-probs of ``gen`` after ``prompt`` from one fresh forward pass (no padding, no cache)."""
    with torch.no_grad():
        logits = model(torch.tensor([prompt + gen])).logits[0].float()
    logp = torch.log_softmax(logits / (temperature if temperature > 0 else 1.0), dim=-1)
    return logp[len(prompt) - 1 : -1].gather(-1, torch.tensor(gen).view(-1, 1)).squeeze(-1)


# ---------------------------------------------------------------------------------------- base


@pytest.mark.unit
def test_sampling_params_reject_bad_values():
    for bad in (
        {"max_new_tokens": 0},
        {"max_new_tokens": 4, "temperature": -0.1},
        {"max_new_tokens": 4, "top_p": 0.0},
        {"max_new_tokens": 4, "top_p": 1.5},
        {"max_new_tokens": 4, "stop_token_ids": [-1]},
        {"max_new_tokens": 4, "top_k": 5},  # unknown field
    ):
        with pytest.raises(ValidationError):
            SamplingParams(**bad)
    assert SamplingParams(max_new_tokens=3, temperature=0).greedy


@pytest.mark.unit
def test_generation_needs_one_logprob_per_token():
    with pytest.raises(ValueError, match="2 token ids but 1 log-probs"):
        Generation([1, 2], [-0.5], "length")


@pytest.mark.unit
def test_finish_cuts_after_first_stop_token():
    g = finish([4, 9, 7, 9, 3], [-1.0, -2.0, -3.0, -4.0, -5.0], [9, 8])
    assert (g.token_ids, g.logprobs, g.finish_reason) == ([4, 9], [-1.0, -2.0], "stop")
    g = finish([4, 5], [-1.0, -2.0], [9])
    assert g.finish_reason == "length"
    assert finish([4, 5], [-1.0, -2.0], [9], "stop").finish_reason == "stop"  # e.g. model EOS


@pytest.mark.unit
def test_validate_prompts_names_the_problem():
    with pytest.raises(ValueError, match=r"prompts\[1\] is empty"):
        validate_prompts([[1], []])
    with pytest.raises(ValueError, match="tokenize first"):
        validate_prompts(["hello"])
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        validate_prompts([[1, 5000]], vocab_size=4096)


@pytest.mark.unit
def test_prompt_seeds_differ_per_prompt():
    seeds = {prompt_seed(7, i) for i in range(100)}
    assert len(seeds) == 100 and prompt_seed(None, 3) is None


# ------------------------------------------------------------------------------------ HFPolicy


@pytest.mark.unit
@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 0.9), (0.0, 1.0)])
def test_hf_logprobs_equal_teacher_forced_forward(model, policy, temperature, top_p):
    params = SamplingParams(max_new_tokens=12, temperature=temperature, top_p=top_p, seed=3)
    gens = policy.generate(PROMPTS, params)
    assert len(gens) == len(PROMPTS)
    for prompt, g in zip(PROMPTS, gens, strict=True):
        assert len(g.token_ids) == 12 and g.finish_reason == "length"
        expected = teacher_forced_logprobs(model, prompt, g.token_ids, temperature)
        torch.testing.assert_close(torch.tensor(g.logprobs), expected, atol=1e-4, rtol=0)


@pytest.mark.unit
def test_hf_batched_greedy_equals_each_prompt_alone(policy):
    params = SamplingParams(max_new_tokens=16, temperature=0)
    batched = policy.generate(PROMPTS, params)
    for prompt, g in zip(PROMPTS, batched, strict=True):
        alone = policy.generate([prompt], params)[0]
        assert alone.token_ids == g.token_ids
        torch.testing.assert_close(torch.tensor(alone.logprobs), torch.tensor(g.logprobs))


@pytest.mark.unit
def test_hf_splits_large_batches_without_changing_results(model, tokenizer, policy):
    params = SamplingParams(max_new_tokens=8, temperature=0)
    small = HFPolicy(model, tokenizer, batch_size=2).generate(PROMPTS, params)
    assert [g.token_ids for g in small] == [g.token_ids for g in policy.generate(PROMPTS, params)]


@pytest.mark.unit
def test_hf_stops_at_the_first_stop_token(policy):
    free = policy.generate(PROMPTS, SamplingParams(max_new_tokens=10, temperature=0))
    stop_id = free[0].token_ids[3]
    cut = free[0].token_ids.index(stop_id)
    gens = policy.generate(
        PROMPTS, SamplingParams(max_new_tokens=10, temperature=0, stop_token_ids=[stop_id])
    )
    g = gens[0]
    assert g.finish_reason == "stop"
    assert g.token_ids == free[0].token_ids[: cut + 1] and g.token_ids[-1] == stop_id
    assert g.logprobs == pytest.approx(free[0].logprobs[: cut + 1], abs=1e-5)
    for f, other in zip(free[1:], gens[1:], strict=True):  # other rows: cut at their own stop
        n = f.token_ids.index(stop_id) + 1 if stop_id in f.token_ids else len(f.token_ids)
        assert other.token_ids == f.token_ids[:n]


@pytest.mark.unit
def test_hf_seeded_sampling_is_reproducible_and_leaves_global_rng_alone(policy):
    rng_before = torch.get_rng_state()
    a = policy.generate(PROMPTS, SamplingParams(max_new_tokens=10, seed=11))
    b = policy.generate(PROMPTS, SamplingParams(max_new_tokens=10, seed=11))
    c = policy.generate(PROMPTS, SamplingParams(max_new_tokens=10, seed=12))
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.logprobs for g in a] == [g.logprobs for g in b]
    assert [g.token_ids for g in a] != [g.token_ids for g in c]
    same = policy.generate([PROMPTS[0]] * 4, SamplingParams(max_new_tokens=10, seed=11))
    assert len({tuple(g.token_ids) for g in same}) == 4  # a group of one prompt still varies


@pytest.mark.unit
def test_hf_top_p_keeps_only_the_nucleus_but_logprobs_use_the_full_distribution(policy):
    greedy = policy.generate(PROMPTS, SamplingParams(max_new_tokens=8, temperature=0))
    nucleus = policy.generate(PROMPTS, SamplingParams(max_new_tokens=8, top_p=1e-6, seed=0))
    assert [g.token_ids for g in nucleus] == [g.token_ids for g in greedy]
    for g, n in zip(greedy, nucleus, strict=True):  # log-probs at T=1, not renormalised to 0
        assert n.logprobs == pytest.approx(g.logprobs, abs=1e-5)
        assert max(n.logprobs) < -1.0


@pytest.mark.unit
def test_hf_restores_the_model_mode(model, policy):
    params = SamplingParams(max_new_tokens=2, temperature=0)
    model.train()
    policy.generate(PROMPTS[:1], params)
    assert model.training
    model.eval()
    policy.generate(PROMPTS[:1], params)
    assert not model.training
    model.train()


@pytest.mark.unit
def test_hf_ignores_sampling_defaults_of_the_checkpoint(tokenizer):
    plain = tiny_model()
    tweaked = tiny_model()
    tweaked.generation_config.repetition_penalty = 50.0
    tweaked.generation_config.suppress_tokens = list(range(100, 4096))
    params = SamplingParams(max_new_tokens=10, temperature=0)
    a = HFPolicy(plain, tokenizer).generate(PROMPTS, params)
    b = HFPolicy(tweaked, tokenizer).generate(PROMPTS, params)
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert tweaked.generation_config.repetition_penalty == 50.0  # restored afterwards


@pytest.mark.unit
def test_hf_rejects_bad_prompts(policy):
    params = SamplingParams(max_new_tokens=2)
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        policy.generate([[1, 99_999]], params)
    with pytest.raises(ValueError, match=r"prompts\[0\] is empty"):
        policy.generate([[]], params)
    with pytest.raises(ValueError, match="stop_token_ids"):
        policy.generate([[1]], SamplingParams(max_new_tokens=2, stop_token_ids=[99_999]))
    assert policy.generate([], params) == []


# ------------------------------------------------------------------ OpenAI-compatible server


class FakeVLLM:
    """A ThreadingHTTPServer on 127.0.0.1 answering /v1/completions in vLLM's format.

    Each prompt's continuation is ``[last + 1, last + 2, ...]`` (``max_tokens`` of them, or up to
    and including a stop id); log-prob of the k-th token is ``-0.1 * (k + 1)``.  Choices come back
    in reverse order (with their ``index``) to check the client sorts them.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "ok"  # ok | error | text_tokens | garbage
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if fake.mode == "error":
                    return self._send(500, b'{"error": "CUDA out of memory"}')
                if fake.mode == "garbage":
                    return self._send(200, b"<html>not json</html>")
                self._send(200, json.dumps(fake.answer(body)).encode())

            def _send(self, code: int, payload: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = []
        for i, prompt in enumerate(body["prompt"]):
            ids, reason = [], "length"
            for k in range(body["max_tokens"]):
                ids.append(prompt[-1] + 1 + k)
                if ids[-1] in body["stop_token_ids"]:
                    reason = "stop"
                    break
            tokens = [f"token_id:{t}" if self.mode != "text_tokens" else f"tok{t}" for t in ids]
            lps = [-0.1 * (k + 1) for k in range(len(ids))]
            choices.append(
                {
                    "index": i,
                    "text": "",
                    "logprobs": {
                        "text_offset": list(range(len(ids))),
                        "token_logprobs": lps,
                        "tokens": tokens,
                        "top_logprobs": [{t: lp} for t, lp in zip(tokens, lps, strict=True)],
                    },
                    "finish_reason": reason,
                    "stop_reason": ids[-1] if reason == "stop" else None,
                }
            )
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 0,
            "model": body["model"],
            "choices": choices[::-1],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fake_server() -> Iterator[FakeVLLM]:
    server = FakeVLLM()
    yield server
    server.close()


@pytest.mark.integration
def test_openai_sends_token_ids_and_parses_vllm_answer(fake_server):
    policy = OpenAICompatiblePolicy(fake_server.url + "/v1", "tiny", api_key="sk-test")
    params = SamplingParams(max_new_tokens=4, temperature=0.5, top_p=0.9, stop_token_ids=[23])
    gens = policy.generate([[1, 2, 3], [20, 21]], params)

    assert len(fake_server.requests) == 1
    req = fake_server.requests[0]
    assert req["path"] == "/v1/completions" and req["auth"] == "Bearer sk-test"
    body = req["body"]
    assert body["model"] == "tiny" and body["prompt"] == [[1, 2, 3], [20, 21]]
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (4, 0.5, 0.9)
    assert body["logprobs"] == 1 and body["return_tokens_as_token_ids"] is True
    assert body["stop_token_ids"] == [23] and body["ignore_eos"] is True and "seed" not in body

    assert gens[0].token_ids == [4, 5, 6, 7] and gens[0].finish_reason == "length"
    assert gens[0].logprobs == pytest.approx([-0.1, -0.2, -0.3, -0.4])
    assert gens[1].token_ids == [22, 23] and gens[1].finish_reason == "stop"
    assert gens[1].logprobs == pytest.approx([-0.1, -0.2])


@pytest.mark.integration
def test_openai_seeded_requests_get_one_seed_per_prompt(fake_server):
    policy = OpenAICompatiblePolicy(fake_server.url, "tiny", max_concurrency=2)
    prompts = [[1], [1], [1], [5]]
    gens = policy.generate(prompts, SamplingParams(max_new_tokens=2, seed=9))
    assert [g.token_ids for g in gens] == [[2, 3], [2, 3], [2, 3], [6, 7]]  # order kept
    bodies = sorted((r["body"] for r in fake_server.requests), key=lambda b: b["seed"])
    assert len(bodies) == 4 and all(len(b["prompt"]) == 1 for b in bodies)
    assert sorted(b["seed"] for b in bodies) == sorted(prompt_seed(9, i) for i in range(4))


@pytest.mark.integration
def test_openai_splits_batches_and_keeps_order(fake_server):
    policy = OpenAICompatiblePolicy(fake_server.url, "tiny", max_batch=2)
    prompts = [[10 * i] for i in range(1, 6)]
    gens = policy.generate(prompts, SamplingParams(max_new_tokens=1))
    assert [g.token_ids for g in gens] == [[11], [21], [31], [41], [51]]
    assert sorted(len(r["body"]["prompt"]) for r in fake_server.requests) == [1, 2, 2]


@pytest.mark.integration
def test_openai_http_error_names_status_and_body(fake_server):
    fake_server.mode = "error"
    policy = OpenAICompatiblePolicy(fake_server.url, "tiny")
    with pytest.raises(PolicyError, match="HTTP 500.*CUDA out of memory"):
        policy.generate([[1]], SamplingParams(max_new_tokens=1))


@pytest.mark.integration
def test_openai_rejects_non_json_and_text_tokens(fake_server):
    policy = OpenAICompatiblePolicy(fake_server.url, "tiny")
    fake_server.mode = "garbage"
    with pytest.raises(PolicyError, match="non-JSON"):
        policy.generate([[1]], SamplingParams(max_new_tokens=1))
    fake_server.mode = "text_tokens"
    with pytest.raises(PolicyError, match="return_tokens_as_token_ids"):
        policy.generate([[1]], SamplingParams(max_new_tokens=1))


@pytest.mark.integration
def test_openai_unreachable_server_is_a_clear_error():
    server = FakeVLLM()
    url = server.url
    server.close()  # the port is now closed
    with pytest.raises(PolicyError, match="could not reach"):
        OpenAICompatiblePolicy(url, "tiny", timeout=5).generate(
            [[1]], SamplingParams(max_new_tokens=1)
        )


@pytest.mark.unit
def test_completions_url_and_token_parsing():
    assert completions_url("http://h:8000") == "http://h:8000/v1/completions"
    assert completions_url("http://h:8000/v1/") == "http://h:8000/v1/completions"
    assert completions_url("https://h/v1/completions") == "https://h/v1/completions"
    with pytest.raises(ValueError, match="http://"):
        completions_url("h:8000")
    assert parse_token("token_id:42") == 42
    with pytest.raises(PolicyError):
        parse_token("hello")


# ------------------------------------------------------------------------------------ vLLM


@pytest.mark.unit
def test_vllm_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError
    with pytest.raises(ImportError, match=r"pip install envlearn\[vllm\].*CUDA GPU"):
        VLLMPolicy("some/model")


@pytest.mark.unit
def test_vllm_sampling_kwargs_and_output_parsing():
    params = SamplingParams(max_new_tokens=5, temperature=0.8, stop_token_ids=[2], seed=4)
    k0, k1 = vllm_sampling_kwargs(params, 0), vllm_sampling_kwargs(params, 1)
    assert k0["seed"] != k1["seed"] and k0["logprobs"] == 0 and k0["stop_token_ids"] == [2]
    assert (k0["max_tokens"], k0["temperature"], k0["ignore_eos"]) == (5, 0.8, True)

    def lp(x: float) -> SimpleNamespace:
        return SimpleNamespace(logprob=x, rank=1)

    out = SimpleNamespace(
        token_ids=[7, 8, 2],
        logprobs=[{7: lp(-0.5)}, {8: lp(-0.25), 9: lp(-3.0)}, {2: lp(-0.125)}],
        finish_reason="stop",
    )
    g = parse_vllm_output(out, [2])
    assert (g.token_ids, g.logprobs, g.finish_reason) == ([7, 8, 2], [-0.5, -0.25, -0.125], "stop")
    with pytest.raises(RuntimeError, match="logprobs"):
        parse_vllm_output(SimpleNamespace(token_ids=[1], logprobs=None, finish_reason="length"), [])


@pytest.mark.unit
def test_vllm_sync_weights_loads_hf_names_and_resets_prefix_cache(model):
    loaded: list[list[str]] = []
    worker = SimpleNamespace(
        model_runner=SimpleNamespace(
            model=SimpleNamespace(
                load_weights=lambda weights: loaded.append([n for n, _ in weights])
            )
        )
    )
    calls: list[str] = []

    class FakeLLM:
        def collective_rpc(self, method, args=(), kwargs=None):
            calls.append("rpc")
            return [method(worker, *args, **(kwargs or {}))]

        def reset_prefix_cache(self):
            calls.append("reset")

    policy = object.__new__(VLLMPolicy)  # skip __init__: no vLLM here
    policy.llm = FakeLLM()
    wrapped = {f"module._orig_mod.{k}": v for k, v in model.state_dict().items()}
    policy.sync_weights(wrapped)
    assert calls == ["rpc", "reset"]
    assert loaded == [list(model.state_dict())]
    assert [n for n, _ in hf_weights(model)] == list(model.state_dict())
