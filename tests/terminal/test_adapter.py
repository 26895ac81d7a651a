"""The terminal adapter: the core action grammar, typed parts, lifecycle, setup/verify, parallel
sessions.

Runs in about 15 s on 2 cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import envlearn_terminal.adapter as adapter_mod
import pytest
from envlearn_terminal import SandboxUnavailable, TerminalAdapter, UnsandboxedWarning
from envlearn_terminal.adapter import FORMAT_HELP, decode_output
from envlearn_terminal.sandbox import lease_uid, processes_in_session
from envlearn_terminal.session import Capture

from envlearn.channels import Adapter, EpisodeError, Observation, Task
from envlearn.plugins import get_adapters, get_commands, get_task_suites

from .conftest import SessionTrace, assert_usable, run

EMPTY = Task(id="empty", adapter="terminal", instruction="nothing")


def notices(obs: Observation) -> str:
    return "".join(p.text for p in obs.parts if p.kind == "notice")


# ------------------------------------------------------------------------------- unit


@pytest.mark.integration
@pytest.mark.parametrize(
    "text,stdout",
    [
        ("```bash\necho a\n```", "a\n"),
        ("Let me look.\n```\necho b\ncd /tmp\n```\nthen\n```bash\necho no\n```", "b\n"),
        ("```sh\necho 'a ``` b'\n```", "a ``` b\n"),
        ("````bash\ncat <<'EOF'\n```\nEOF\n````", "```\n"),
        ("  ```console\necho c\n  ```", "c\n"),
        ("```python\nprint(1)\n```\n```bash\necho d\n```", "d\n"),
        ("```bash\necho TASK COMPLETE\n```", "TASK COMPLETE\n"),
    ],
)
def test_the_core_grammar_picks_the_first_shell_block(
    term: TerminalAdapter, text: str, stdout: str
) -> None:
    obs = term.step(text)
    assert obs.content_text("stdout") == stdout and not obs.done, obs.text


@pytest.mark.integration
def test_action_and_task_complete_in_one_reply_runs_then_ends(term: TerminalAdapter) -> None:
    obs = term.step("```bash\necho 42 > answer; cat answer\n```\nAll done.\n\n**TASK COMPLETE**")
    assert obs.done
    assert obs.content_text("stdout") == "42\n" and obs.content_text("exit_code") == "0"
    assert obs.text.endswith("[episode ended: TASK COMPLETE]\n")
    assert term.workdir is not None and (term.workdir / "answer").read_text() == "42\n"
    with pytest.raises(RuntimeError, match="after the episode ended"):
        term.step("```bash\nls\n```")


@pytest.mark.integration
@pytest.mark.parametrize(
    "text,problem",
    [
        ("", "no code block"),
        ("ls -la", "no code block"),
        ("the task is complete", "no code block"),
        ("```bash\nls", "not closed"),
        ("```bash\n\n  \n```", "empty"),
        ("```python\nprint(1)\n```", "```bash"),
    ],
)
def test_format_problems_say_what_is_wrong(term: TerminalAdapter, text: str, problem: str) -> None:
    obs = term.step(text)
    assert not obs.done and all(p.kind == "notice" for p in obs.parts)
    assert problem in obs.text and FORMAT_HELP in obs.text, obs.text


@pytest.mark.unit
def test_capture_keeps_head_and_tail_at_utf8_boundaries() -> None:
    c = Capture(100)
    data = ("é" * 200).encode()  # 400 bytes of 2-byte characters
    for i in range(0, len(data), 7):
        c.write(data[i : i + 7])
    head, omitted, tail = c.split()
    assert c.total == 400 and c.truncated
    assert head.decode() == "é" * 37  # 75-byte head cut back to a character boundary
    assert tail.decode() == "é" * 12  # 25-byte tail cut forward to a character boundary
    assert len(head) + omitted + len(tail) == 400
    small = Capture(100)
    small.write(b"abc")
    assert small.split() == (b"abc", 0, b"")


@pytest.mark.unit
def test_decode_output_counts_replaced_bytes() -> None:
    assert decode_output(b"ok\xff\xfe\xc3\xa9") == ("ok\ufffd\ufffdé", 2)
    assert decode_output("ünï".encode()) == ("ünï", 0)


@pytest.mark.unit
def test_task_collections_under_usr_are_hidden_from_the_shell() -> None:
    site = Path("/usr/lib/python3/dist-packages/envlearn_terminal/tasks/some-task")
    assert adapter_mod._hidden_paths(site) == [str(site.parent)]
    assert adapter_mod._hidden_paths(Path("/opt/tasks/t")) == []
    assert adapter_mod._hidden_paths(None) == []


@pytest.mark.unit
def test_uid_leases_are_unique_and_reusable() -> None:
    a, b = lease_uid(), lease_uid()
    try:
        assert a.uid != b.uid
        if os.geteuid() == 0:
            assert a.uid >= 3_000_000
    finally:
        a.release()
        b.release()
        a.release()  # idempotent


# ------------------------------------------------------------------------------- plugin


@pytest.mark.unit
def test_plugin_registers_adapter_suite_and_command() -> None:
    info = get_adapters()["terminal"]
    assert info.factory is TerminalAdapter
    assert get_task_suites()["terminal"].adapter == "terminal"
    assert "terminal-import" in get_commands()


@pytest.mark.unit
@pytest.mark.parametrize(
    "opts,match",
    [
        ({"sandbox": "docker"}, "sandbox must be 'bwrap'"),
        ({"timeout_s": 0}, "timeout_s must be a positive"),
        ({"max_output_bytes": 10}, "max_output_bytes must be an integer >= 64"),
        ({"nproc": 2}, "nproc=2 is too low"),
        ({"memory_mb": -1}, "memory_mb must be a positive integer"),
        ({"max_drain_bytes": 100}, "max_drain_bytes must be"),
        ({"control_chars": "raw"}, "control_chars must be 'escape'"),
        ({"clock": "frozen"}, "clock must be 'fixed'"),
        ({"disk_mb": 0}, "disk_mb must be an integer >= 1"),
        ({"disk_inodes": 10}, "disk_inodes must be an integer >= 64"),
    ],
)
def test_bad_options_say_what_to_fix(opts: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TerminalAdapter(**opts)  # type: ignore[arg-type]


@pytest.mark.unit
def test_refuses_without_bubblewrap_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapter_mod, "bwrap_problem", lambda: "bwrap is not installed")
    with pytest.raises(SandboxUnavailable, match="sandbox='none'"):
        TerminalAdapter()


# ------------------------------------------------------------------------------- parts


@pytest.mark.integration
def test_stdout_stderr_and_exit_code_are_separate_parts(term: TerminalAdapter) -> None:
    obs = run(
        term,
        "echo out1; echo err1 >&2; echo out2; printf err2 >&2; exit_with() { return $1; }; exit_with 3",
    )
    assert [(p.channel, p.kind, p.text) for p in obs.parts] == [
        ("stdout", "content", "out1\nout2\n"),
        ("notice", "notice", "[stderr]\n"),
        ("stderr", "content", "err1\nerr2"),
        ("notice", "notice", "\n[exit code: "),
        ("exit_code", "content", "3"),
        ("notice", "notice", "]\n"),
    ]
    assert obs.info["exit_code"] == 3 and not obs.done


@pytest.mark.integration
@pytest.mark.parametrize(
    "command,code",
    [("true", "0"), ("false", "1"), ("no-such-command-xyz", "127"), ("(exit 42)", "42"),
     ("sh -c 'kill -TERM $$'", "143")],
)  # fmt: skip
def test_exit_codes(term: TerminalAdapter, command: str, code: str) -> None:
    assert run(term, command).content_text("exit_code") == code


@pytest.mark.integration
def test_state_persists_between_commands(term: TerminalAdapter) -> None:
    run(
        term,
        "mkdir -p d/e && cd d/e && export V=hello && f() { echo fn-$1; }; alias ll='echo aliased'",
    )
    run(term, "sleep 30 &")
    obs = run(term, "pwd; echo $V; f x; ll; jobs | wc -l; echo prev=$?")
    assert obs.content_text("stdout") == "/work/d/e\nhello\nfn-x\naliased\n1\nprev=0\n"
    run(term, "false")
    assert run(term, "echo $?").content_text("stdout") == "1\n"


@pytest.mark.integration
def test_truncation_and_timeout_are_notices_not_content(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    a = new_adapter(max_output_bytes=200, timeout_s=1)
    a.reset(EMPTY)
    obs = run(a, "seq 1 1000; seq 1 500 >&2")
    out = obs.content_text("stdout")
    assert out.startswith("1\n2\n3\n") and out.endswith("999\n1000\n")
    assert len(out) <= 200
    full = "".join(f"{i}\n" for i in range(1, 1001))
    assert f"[... {len(full) - len(out)} bytes of stdout omitted ...]" in notices(obs)
    assert "bytes of stderr omitted" in notices(obs)
    assert all("omitted" not in p.text for p in obs.parts if p.kind == "content")
    obs = run(a, "echo before; sleep 5")
    assert obs.content_text("stdout") == "before\n"
    assert "[timed out after 1 s: the command was interrupted]" in notices(obs)
    assert all("timed out" not in p.text for p in obs.parts if p.kind == "content")
    assert obs.content_text("exit_code") == "" and obs.info["timed_out"] is True


@pytest.mark.integration
def test_task_timeout_overrides_the_default(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    a = new_adapter(timeout_s=30)
    a.reset(make_task(timeout_s=0.5))
    obs = run(a, "sleep 3")
    assert "timed out after 0.5 s" in notices(obs)
    assert "interrupted after 0.5 seconds" in a.system_prompt(make_task(timeout_s=0.5))


@pytest.mark.integration
def test_format_problems_are_notices(term: TerminalAdapter) -> None:
    for text in ("just prose", "```bash\nls", "", "```\n\n```", "x" * 50_000, "```\nab\x00c\n```"):
        obs = term.step(text)
        assert obs.parts and all(p.kind == "notice" for p in obs.parts), text[:20]
        assert not obs.done
    assert FORMAT_HELP in term.step("no block").text
    assert_usable(term)


# ------------------------------------------------------------------------------- lifecycle


@pytest.mark.integration
def test_lifecycle(term: TerminalAdapter) -> None:
    assert isinstance(term, Adapter)
    obs = term.step("Finished.\nTASK COMPLETE")
    assert obs.done and all(p.kind == "notice" for p in obs.parts)
    with pytest.raises(RuntimeError, match="after the episode ended"):
        term.step("```\nls\n```")
    trace = SessionTrace.of(term)
    term.reset(EMPTY)  # a new episode on the same adapter: the old one is cleaned up
    trace.assert_gone()
    assert_usable(term)
    trace = SessionTrace.of(term)
    term.close()
    term.close()
    trace.assert_gone()
    with pytest.raises(RuntimeError, match="closed"):
        term.step("```\nls\n```")
    with pytest.raises(RuntimeError, match="closed"):
        term.reset(EMPTY)


@pytest.mark.integration
def test_step_before_reset(new_adapter: Callable[..., TerminalAdapter]) -> None:
    a = new_adapter()
    with pytest.raises(RuntimeError, match="before reset"):
        a.step("```\nls\n```")
    with pytest.raises(RuntimeError, match="before reset"):
        a.score()


@pytest.mark.integration
def test_setup_runs_in_the_sandbox_and_verify_scores(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    task = make_task(
        setup='cp "$TASK_DIR/data.txt" . && echo "seed=$ENVLEARN_SEED" > seed && id -u > uid\n',
        verify='grep -q done result && echo "checked" && echo "reward: 0.75"\n',
        solution="echo done > result",
        files={"data.txt": "payload\n"},
    )
    a = new_adapter()
    a.reset(task, seed=7)
    obs = run(a, "cat data.txt seed; test $(cat uid) = $(id -u) && echo same-uid")
    assert obs.content_text("stdout") == "payload\nseed=7\nsame-uid\n"
    assert a.score() == 0.0  # verify exits non-zero: no reward line
    assert task.oracle is not None
    a.step(task.oracle[0])
    assert a.score() == 0.75
    assert a.last_verify is not None and b"checked" in a.last_verify.stdout


@pytest.mark.integration
@pytest.mark.parametrize(
    "verify,expected",
    [
        ("exit 0", 1.0),
        ("exit 1", 0.0),
        ("echo 'reward: 1'", 1.0),
        ("echo reward: 0.25; exit 1", 0.25),
    ],
)
def test_verify_reward_rules(
    new_adapter: Callable[..., TerminalAdapter],
    make_task: Callable[..., Task],
    verify: str,
    expected: float,
) -> None:
    a = new_adapter()
    a.reset(make_task(verify=verify + "\n"))
    assert a.score() == expected


@pytest.mark.integration
def test_verifier_and_setup_faults_are_episode_errors(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    a = new_adapter()
    with pytest.raises(EpisodeError, match="setup.sh failed with exit code 3; stderr: broken"):
        a.reset(make_task(setup="echo broken >&2; exit 3\n"))
    a.reset(make_task(verify="echo 'reward: 7'\n"))
    with pytest.raises(EpisodeError, match="outside"):
        a.score()
    a.reset(make_task())
    with pytest.raises(EpisodeError, match="no verify.sh"):
        a.score()
    with pytest.raises(ValueError, match="is not a directory"):
        a.reset(Task(id="x", adapter="terminal", instruction="x", data={"task_dir": "/nope"}))


@pytest.mark.integration
def test_setup_timeout_is_an_episode_error(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    a = new_adapter(setup_timeout_s=0.5)
    with pytest.raises(EpisodeError, match="timed out"):
        a.reset(make_task(setup="sleep 30\n"))


@pytest.mark.integration
def test_verify_timeout_scores_zero(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    a = new_adapter(verify_timeout_s=0.5)
    a.reset(make_task(verify="sleep 30\n"))
    assert a.score() == 0.0
    assert a.last_verify is not None and a.last_verify.timed_out


@pytest.mark.integration
def test_four_sessions_in_parallel_threads(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    task = make_task(verify='test "$(cat mine)" = "$(cat expect)"\n')
    adapters = [new_adapter() for _ in range(4)]
    errors: list[BaseException] = []
    traces: list[SessionTrace] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            a = adapters[i]
            a.reset(task)
            for k in range(15):
                obs = run(a, f"echo {i}-{k} | tee -a mine; echo {i}-{k} >> expect")
                assert obs.content_text("stdout") == f"{i}-{k}\n", obs.text
            obs = run(a, "ls /work; wc -l < mine")
            assert obs.content_text("stdout") == "expect\nmine\n15\n"
            assert a.score() == 1.0
            with lock:
                traces.append(SessionTrace.of(a))
            a.close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len({t.ns for t in traces}) == 4
    for tr in traces:
        tr.assert_gone()


@pytest.mark.integration
def test_session_outlives_the_thread_that_started_it(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    a = new_adapter()
    t = threading.Thread(target=a.reset, args=(EMPTY,))
    t.start()
    t.join()
    assert not t.is_alive()
    assert_usable(a)  # --die-with-parent is tied to the spawning thread: it must not be this one


@pytest.mark.integration
def test_unsandboxed_mode_warns_and_still_cleans_up(workroot: Path) -> None:
    with pytest.warns(UnsandboxedWarning, match="no isolation"):
        a = TerminalAdapter(sandbox="none", timeout_s=1, workdir_root=workroot)
    try:
        a.reset(EMPTY)
        assert a.workdir is not None
        obs = run(a, "pwd; echo x > f; sleep 30 &")
        assert obs.content_text("stdout") == f"{a.workdir}\n"
        assert (a.workdir / "f").exists()
        obs = run(a, "sleep 5")
        assert "timed out" in notices(obs)
        assert_usable(a)
        s = a.session
        assert s is not None and s.host_pid is not None
        sid = s.host_pid
    finally:
        a.close()
    assert processes_in_session(sid) == []
    assert list(workroot.iterdir()) == []
    # the fixed clock ran on the host here: libfaketime's segment must not stay in /dev/shm
    assert not list(Path("/dev/shm").glob(f"*faketime_*_{sid}"))


@pytest.mark.integration
def test_conformance_smoke(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    """A small adapter-conformance pass of our own (envlearn.testing.check_adapter is fuller)."""
    a = new_adapter()
    assert a.name == "terminal" and isinstance(a.deterministic, bool)
    declared = {c.name: c.kind for c in a.channels}
    task = make_task(setup="echo 1 > n\n", verify="test $(cat n) = 2\n", solution="echo 2 > n")
    prompt = a.system_prompt(task)
    assert "```bash" in prompt and "TASK COMPLETE" in prompt
    seen: list[Observation] = [a.reset(task, seed=0)]
    for action in ("```\ncat n; cat missing\n```", "no block", "```\nprintf '\\xff'\n```"):
        seen.append(a.step(action))
    assert a.score() == 0.0
    assert task.oracle is not None
    for action in task.oracle:
        seen.append(a.step(action))
    assert a.score() == 1.0
    seen.append(a.step("TASK COMPLETE"))
    assert seen[-1].done
    for obs in seen:
        for p in obs.parts:
            assert declared.get(p.channel) == p.kind, p
        for p in obs.parts:
            if p.kind == "content":
                assert "[" not in p.text or p.channel != "exit_code"
    assert 0.0 <= a.score() <= 1.0
    a.close()
    a.close()


@pytest.mark.integration
def test_a_bad_task_clock_is_refused_and_leaves_nothing(
    new_adapter: Callable[..., TerminalAdapter], workroot: Path
) -> None:
    a = new_adapter()
    bad = Task(id="bad", adapter="terminal", instruction="x", data={"clock": "frozen"})
    with pytest.raises(ValueError, match="data\\['clock'\\] must be 'fixed' or 'real'"):
        a.reset(bad)
    assert list(workroot.iterdir()) == []
    a.reset(EMPTY)
    assert_usable(a)
