"""The hostile-command battery: each attack is contained and the session still works after it.

Runs in about 20-30 s on 2 cores (timeouts are 1-2 s; the fork test is bounded at 2000).
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from envlearn_terminal import TerminalAdapter
from envlearn_terminal.sandbox import processes_in_pid_namespace

from envlearn.channels import Task

from .conftest import SessionTrace, assert_usable, host_pids_with_cmdline, run, wait_until

pytestmark = pytest.mark.integration


def test_no_network_outside_or_to_a_host_loopback_server(term: TerminalAdapter) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.05)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except TimeoutError:
                continue

    t = threading.Thread(target=accept_loop)
    t.start()
    try:
        probe = textwrap.dedent(
            f"""\
            python3 - <<'EOF'
            import socket
            for host, port in [("1.1.1.1", 80), ("127.0.0.1", {port}), ("8.8.8.8", 53)]:
                s = socket.socket()
                s.settimeout(1)
                try:
                    s.connect((host, port))
                    print(host, "CONNECTED")
                except OSError as e:
                    print(host, "blocked", e.errno)
            EOF"""
        )
        out = run(term, probe).content_text("stdout")
        assert "CONNECTED" not in out
        assert out.count("blocked") == 3, out
        assert not accepted, "the host's loopback server was reached from the sandbox"
        # only a private loopback: no route anywhere
        routes = run(term, "cat /proc/net/route | tail -n +2 | wc -l").content_text("stdout")
        assert routes.strip() == "0"
    finally:
        stop.set()
        t.join()
        server.close()
    assert_usable(term)


def test_cannot_write_outside_the_work_dir(term: TerminalAdapter) -> None:
    marker = f"envlearn-evil-{random.randrange(10**9)}"
    for target in (f"/usr/{marker}", f"/etc/{marker}", f"/{marker}", f"/usr/bin/{marker}"):
        obs = run(term, f"echo x > {target}")
        assert obs.content_text("exit_code") != "0", f"{target}: {obs.text}"
        assert not Path(target).exists()
    # the host's /tmp is not the sandbox's /tmp; the sandbox's is fresh and writable
    host_file = Path("/tmp") / marker
    host_file.write_text("host")
    try:
        obs = run(term, f"ls /tmp; cat /tmp/{marker}; echo new > /tmp/{marker}-in && echo w")
        assert marker not in obs.content_text("stdout").split("\n")[0]
        assert "No such file" in obs.content_text("stderr")
        assert obs.content_text("stdout").endswith("w\n")
        assert not Path(f"/tmp/{marker}-in").exists()
    finally:
        host_file.unlink()
    obs = run(term, "echo inside > /work/f && cat /work/f && echo home > ~/g && cat ~/g")
    assert obs.content_text("stdout") == "inside\nhome\n"
    assert term.workdir is not None and (term.workdir / "f").read_text() == "inside\n"
    assert_usable(term)


def test_cannot_read_the_hosts_home_or_secrets(term: TerminalAdapter) -> None:
    obs = run(term, "ls /root; cat /root/.bashrc; ls /home; cat /etc/shadow; ls /sys")
    assert obs.content_text("stdout") == "user\n", obs.text  # /home holds only the sandbox home
    assert obs.content_text("stderr").count("No such file or directory") == 4, obs.text
    obs = run(term, "ls /")
    assert set(obs.content_text("stdout").split()) <= {
        "bin", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin",
        "tmp", "usr", "work",
    }  # fmt: skip
    obs = run(term, "id -u; id -un; grep -c . /etc/passwd")
    uid, user, lines = obs.content_text("stdout").split()
    assert int(uid) != 0 and user == "user" and lines == "3"
    assert_usable(term)


def test_bounded_fork_bomb_is_stopped_by_the_process_limit(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    a = new_adapter(nproc=48, timeout_s=10)
    a.reset(Task(id="fork", adapter="terminal", instruction="x"))
    script = textwrap.dedent(
        """\
        python3 - <<'EOF'
        import subprocess
        got = 0
        for _ in range(2000):
            try:
                subprocess.Popen(["sleep", "30"])
                got += 1
            except OSError:
                break
        print("started", got)
        EOF"""
    )
    obs = run(a, script)
    started = int(obs.content_text("stdout").split()[-1])
    assert 0 < started < 48, obs.text
    assert_usable(a)  # a builtin: works even with the process table of the uid full
    trace = SessionTrace.of(a)
    a.close()
    trace.assert_gone()


def test_memory_hog_gets_memory_error(new_adapter: Callable[..., TerminalAdapter]) -> None:
    a = new_adapter(memory_mb=512)
    a.reset(Task(id="mem", adapter="terminal", instruction="x"))
    obs = run(a, "python3 -c 'b = bytearray(4 * 2**30)'")
    assert "MemoryError" in obs.content_text("stderr")
    assert obs.content_text("exit_code") == "1"
    obs = run(a, "python3 -c 'x = []\nwhile True: x.append(bytearray(64 * 2**20))'")
    assert "MemoryError" in obs.content_text("stderr")
    assert_usable(a)


def test_file_size_limit(new_adapter: Callable[..., TerminalAdapter]) -> None:
    a = new_adapter(file_size_mb=1)
    a.reset(Task(id="fsize", adapter="terminal", instruction="x"))
    obs = run(a, "head -c 5000000 /dev/zero > big; ls -l big | cut -d' ' -f5")
    assert obs.content_text("stdout").strip() == str(2**20)
    assert "File size limit exceeded" in obs.content_text("stderr")
    assert_usable(a)


def test_writable_space_is_bounded_in_bytes_with_a_notice(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    a = new_adapter(disk_mb=16)
    a.reset(Task(id="tmpfs", adapter="terminal", instruction="x"))
    for d in ("/work", "/tmp", "/dev/shm", "/home/user"):
        obs = run(a, f"head -c 20000000 /dev/zero > {d}/fill")
        assert "No space left on device" in obs.content_text("stderr"), d
        assert "[the sandbox's writable space is full (16 of 16 MiB" in obs.text, obs.text
        assert obs.info["disk_full"] is True
        obs = run(a, f"rm {d}/fill")
        assert "writable space is full" not in obs.text and obs.info["disk_full"] is False
    obs = run(a, "echo x > /dev/evil")
    assert "Read-only file system" in obs.content_text("stderr")
    assert_usable(a)


def test_writable_space_is_bounded_in_files_with_a_notice(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    """300,000 empty files used to be created with exit code 0 and no notice."""
    a = new_adapter(disk_inodes=3000)
    a.reset(Task(id="inodes", adapter="terminal", instruction="x"))
    obs = run(
        a, "mkdir many && cd many && for i in $(seq 300000); do : > f$i || break; done; cd .."
    )
    assert "No space left on device" in obs.content_text("stderr")
    assert re.search(r"\[the sandbox's writable space is full \(.*of 3000 files", obs.text), (
        obs.text
    )
    obs = run(a, "ls many | wc -l; touch /tmp/one-more")
    assert int(obs.content_text("stdout")) < 3000
    assert "No space left on device" in obs.content_text("stderr")  # /tmp shares the cap
    obs = run(a, "rm -r many; touch /tmp/one-more && echo ok")
    assert obs.content_text("stdout") == "ok\n" and "full" not in obs.text
    assert_usable(a)


def test_host_disk_is_untouched_the_space_is_an_episode_tmpfs(term: TerminalAdapter) -> None:
    assert term.workdir is not None
    space = term.workdir.parent
    assert os.path.ismount(space)
    with open("/proc/self/mountinfo") as f:
        line = next(ln for ln in f if ln.split()[4] == str(space))
    assert " - tmpfs " in line and "size=1048576k,nr_inodes=65536" in line, line
    trace = SessionTrace.of(term)
    term.close()
    trace.assert_gone()
    assert not os.path.ismount(space) and not space.exists()


def test_endless_output_is_cut_and_interrupted(term: TerminalAdapter) -> None:
    t0 = time.monotonic()
    obs = run(term, "yes")
    assert time.monotonic() - t0 < 2.0  # interrupted for output, long before the 2 s timeout
    assert len(obs.content_text("stdout").encode()) <= term.max_output_bytes
    notices = "".join(p.text for p in obs.parts if p.kind == "notice")
    assert "bytes of stdout omitted" in notices
    assert "was interrupted" in notices
    assert not obs.content_text("exit_code")
    assert_usable(term)


def test_sleep_forever_times_out_and_its_group_is_killed(term: TerminalAdapter) -> None:
    t0 = time.monotonic()
    obs = run(term, "sleep 1000 | cat; echo never")
    elapsed = time.monotonic() - t0
    assert 1.9 < elapsed < 3.5
    assert obs.content_text() == ""
    assert "timed out after 2 s" in obs.text
    assert not any(p.kind == "content" and "timed out" in p.text for p in obs.parts)
    s = term.session
    assert s is not None and s.pid_namespace is not None
    left = [p for p in processes_in_pid_namespace(s.pid_namespace) if b"sleep" in _cmdline(p)]
    assert not left, "the timed-out job's processes survived"
    assert s.restarts == 0  # interrupted, not restarted: the shell state is kept
    assert_usable(term)


def test_timeout_breaks_loops_and_keeps_shell_state(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    term = new_adapter(timeout_s=1)
    term.reset(Task(id="t", adapter="terminal", instruction="x"))
    run(term, "cd /tmp; KEEP=1")
    for loop in ("while true; do sleep 1; done", "while :; do :; done", "x=$(sleep 100)"):
        obs = run(term, loop)
        assert "timed out" in obs.text, loop
    obs = run(term, "pwd; echo $KEEP")
    assert obs.content_text("stdout") == "/tmp\n1\n"
    assert term.session is not None and term.session.restarts == 0


def test_many_interrupted_loops_keep_one_shell(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    term = new_adapter(timeout_s=0.3)
    term.reset(Task(id="t", adapter="terminal", instruction="x"))
    run(term, "KEEP=3")
    loops = [
        "while true; do sleep 0.05; done",
        "while true; do true | cat; done",
        "for i in $(seq 100000); do /bin/true; done",
        "while :; do :; done",
        "sleep 5",
    ]
    for k in range(12):
        obs = run(term, loops[k % len(loops)])
        assert "timed out" in obs.text and "restarted" not in obs.text, obs.text
        after = run(term, "echo $KEEP")
        assert [(p.channel, p.text) for p in after.parts if p.kind == "content"] == [
            ("stdout", "3\n"),
            ("exit_code", "0"),
        ], after.text  # no stray newline or prompt left over from the interrupt
    assert term.session is not None and term.session.restarts == 0


def test_sigint_proof_command_is_killed(new_adapter: Callable[..., TerminalAdapter]) -> None:
    term = new_adapter(timeout_s=1)
    term.reset(Task(id="t", adapter="terminal", instruction="x"))
    cmd = "python3 -c 'import signal, time; signal.signal(2, signal.SIG_IGN); time.sleep(100)'"
    obs = run(term, f"KEEP=2; {cmd}")
    assert "timed out" in obs.text
    obs = run(term, "echo $KEEP")
    assert obs.content_text("stdout") == "2\n"


def test_stuck_shell_is_restarted(new_adapter: Callable[..., TerminalAdapter]) -> None:
    term = new_adapter(timeout_s=1)
    term.reset(Task(id="t", adapter="terminal", instruction="x"))
    obs = run(term, "trap '' INT; while :; do :; done")
    assert "timed out" in obs.text and "session restarted" in obs.text
    assert_usable(term)


def test_setsid_daemon_does_not_survive_close(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    a = new_adapter()
    a.reset(Task(id="daemon", adapter="terminal", instruction="x"))
    marker = f"{random.randrange(10**6, 10**7)}.{random.randrange(10**6)}"
    obs = run(a, f"setsid nohup sleep {marker} > /dev/null 2>&1 < /dev/null & disown; echo started")
    assert obs.content_text("stdout") == "started\n"
    assert wait_until(lambda: bool(host_pids_with_cmdline(f"sleep {marker}")))
    assert_usable(a)
    trace = SessionTrace.of(a)
    a.close()
    trace.assert_gone()
    assert not host_pids_with_cmdline(f"sleep {marker}")


def test_binary_output_is_replaced_with_a_notice(term: TerminalAdapter) -> None:
    obs = run(term, r"printf 'ok\xff\xfe\x00end\n'; head -c 3000 /dev/urandom")
    out = obs.content_text("stdout")
    assert out.startswith("ok\ufffd\ufffd\\x00end\n")  # NUL shown as text (control_chars)
    notices = "".join(p.text for p in obs.parts if p.kind == "notice")
    assert "not valid UTF-8" in notices and "shown as \\xHH escapes" in notices
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out)
    assert obs.content_text("exit_code") == "0"
    assert_usable(term)


def test_ten_megabyte_single_line(term: TerminalAdapter) -> None:
    obs = run(term, "head -c 10000000 /dev/zero | tr '\\0' a; echo")
    out = obs.content_text("stdout")
    assert set(out) == {"a", "\n"} and out.endswith("\n")
    assert len(out) <= term.max_output_bytes
    omitted = 10_000_001 - len(out)
    assert f"[... {omitted} bytes of stdout omitted ...]" in obs.text
    assert obs.content_text("exit_code") == "0"
    assert_usable(term)


@pytest.mark.parametrize(
    "command,code",
    [("exit", "0"), ("exit 3", "3"), ("exec true", "0"), ("kill -9 $$", "137")],
)
def test_shell_death_restarts_the_session(term: TerminalAdapter, command: str, code: str) -> None:
    run(term, "cd /tmp; echo keep > /work/kept; X=1")
    obs = run(term, command)
    notices = "".join(p.text for p in obs.parts if p.kind == "notice")
    assert f"session restarted: the shell exited (code {code})" in notices
    assert not obs.content_text("exit_code")
    obs = run(term, "pwd; echo x$X; cat kept")
    assert obs.content_text("stdout") == "/work\nx\nkeep\n"
    assert_usable(term)


def test_shell_killed_between_commands_is_restarted(term: TerminalAdapter) -> None:
    run(term, "(sleep 0.2; kill -9 $$) > /dev/null 2>&1 &")
    s = term.session
    assert s is not None
    assert wait_until(lambda: not s.alive())
    obs = run(term, "echo back")
    assert obs.content_text("stdout") == "back\n"
    assert "the shell had exited (code 137) before this command" in obs.text


def test_tasks_scripts_are_invisible_to_the_model(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    task = make_task(
        setup="echo set > seeded\n",
        verify="test -f seeded && echo 'reward: 0.5'\n",
        solution="echo SECRET-SOLUTION\n",
    )
    a = new_adapter(timeout_s=20)
    a.reset(task)
    obs = run(
        a,
        "ls /task; ls /run/envlearn; find / -name 'solution.sh' -o -name 'verify.sh' 2>/dev/null;"
        " grep -rl SECRET-SOLUTION / --exclude-dir=usr --exclude-dir=proc 2>/dev/null; echo done",
    )
    out = obs.content_text("stdout")
    assert "solution.sh" not in out and "verify.sh" not in out and "SECRET" not in out
    assert out.endswith("done\n")
    assert a.score() == 0.5
    assert_usable(a)


def test_sandbox_dies_with_a_killed_host_process(bwrap_ok: None, workroot: Path) -> None:
    marker = f"{random.randrange(10**6, 10**7)}.{random.randrange(10**6)}"
    script = textwrap.dedent(
        f"""\
        import sys
        from envlearn.channels import Task
        from envlearn_terminal import TerminalAdapter
        a = TerminalAdapter(workdir_root={str(workroot)!r})
        a.reset(Task(id="t", adapter="terminal", instruction="x"))
        a.step("```\\nsetsid sleep {marker} > /dev/null 2>&1 &\\n```")
        print(a.session.pid_namespace, flush=True)
        sys.stdin.read()
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as p:
        assert p.stdout is not None
        ns = p.stdout.readline().strip()
        assert ns.startswith("pid:[")
        assert wait_until(lambda: bool(host_pids_with_cmdline(f"sleep {marker}")))
        p.kill()
    assert wait_until(lambda: not processes_in_pid_namespace(ns)), "sandbox outlived its host"
    assert not host_pids_with_cmdline(f"sleep {marker}")
    # its episode tmpfs stays mounted: the next adapter on the same root unmounts and removes it
    (left,) = list(workroot.iterdir())
    assert os.path.ismount(left / "fs")
    TerminalAdapter(workdir_root=workroot).close()
    assert not left.exists()


def test_interpreter_exit_reaps_sessions_and_work_dirs(bwrap_ok: None, workroot: Path) -> None:
    marker = f"{random.randrange(10**6, 10**7)}.{random.randrange(10**6)}"
    script = textwrap.dedent(
        f"""\
        from envlearn.channels import Task
        from envlearn_terminal import TerminalAdapter
        adapters = []
        for i in range(2):
            a = TerminalAdapter(workdir_root={str(workroot)!r})
            a.reset(Task(id="t", adapter="terminal", instruction="x"))
            a.step("```\\nsetsid sleep {marker} > /dev/null 2>&1 &\\n```")
            print(a.session.pid_namespace, flush=True)
            adapters.append(a)
        # no close(): the atexit finalizers must clean up
        """
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    namespaces = r.stdout.split()
    assert len(namespaces) == 2
    for ns in namespaces:
        assert wait_until(lambda ns=ns: not processes_in_pid_namespace(ns))
    assert not host_pids_with_cmdline(f"sleep {marker}")
    assert os.listdir(workroot) == [], "work dirs left behind"


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


# ------------------------------------------------------------------------------------------
# round 2 of the battery (issue 19): namespaces, stopped shells, control characters, screens


def test_nested_user_namespaces_are_disabled(term: TerminalAdapter) -> None:
    obs = run(term, "unshare -r id -u; unshare -Urm sh -c 'mount -t tmpfs none /tmp'; echo end")
    err = obs.content_text("stderr")
    assert err.count("unshare failed") == 2, obs.text
    assert obs.content_text("stdout") == "end\n"
    assert_usable(term)


def test_a_task_may_ask_for_nested_user_namespaces(
    new_adapter: Callable[..., TerminalAdapter], make_task: Callable[..., Task]
) -> None:
    a = new_adapter()
    task = make_task(verify="true\n")
    task.data["nested_userns"] = True
    a.reset(task)
    obs = run(a, "unshare -r id -u")
    assert obs.content_text("stdout") == "0\n", obs.text


@pytest.mark.parametrize("command", ["kill -STOP $$", "suspend -f"])
def test_stopped_shell_is_restarted_within_a_second(
    new_adapter: Callable[..., TerminalAdapter], command: str
) -> None:
    a = new_adapter(timeout_s=30)
    a.reset(Task(id="stop", adapter="terminal", instruction="x"))
    run(a, "echo kept > f")
    obs = run(a, command)
    assert obs.info["restarted"] and obs.info["duration_s"] < 1.5, obs.info
    assert "[session restarted: the shell was stopped" in obs.text
    assert run(a, "cat f").content_text("stdout") == "kept\n"
    assert_usable(a)


def test_stopped_foreground_job_is_killed_within_a_second(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    a = new_adapter(timeout_s=30)
    a.reset(Task(id="stop", adapter="terminal", instruction="x"))
    obs = run(a, "sh -c 'kill -STOP $$' | cat")
    assert obs.info["stopped"] and obs.info["duration_s"] < 1.5, obs.info
    assert "[the command was stopped (SIGSTOP/SIGTSTP)" in obs.text
    assert not obs.info["restarted"] and obs.info["exit_code"] is None
    # bash's own job control takes a stopped simple command back at once: no wait either
    obs = run(a, "python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGSTOP)'; echo on")
    assert obs.info["duration_s"] < 1.5 and obs.content_text("stdout") == "on\n"
    assert_usable(a)


TERMINAL_JUNK = r"printf '\033]0;title\007\033[2J\033[1;31mred\033[0m\000nul\tend\r\n'"


@pytest.mark.parametrize(
    ("policy", "stdout", "notice"),
    [
        (
            "escape",
            "\\x1b]0;title\\x07\\x1b[2J\\x1b[1;31mred\\x1b[0m\\x00nul\tend\\x0d\n",
            "[7 control characters in the output are shown as \\xHH escapes]",
        ),
        (
            "strip",
            "rednul\tend\n",
            "[7 control characters (and the terminal sequences they started) were removed",
        ),
        ("keep", "\x1b]0;title\x07\x1b[2J\x1b[1;31mred\x1b[0m\x00nul\tend\r\n", None),
    ],
)
def test_control_character_policy(
    new_adapter: Callable[..., TerminalAdapter], policy: str, stdout: str, notice: str | None
) -> None:
    a = new_adapter(control_chars=policy)
    a.reset(Task(id="ctl", adapter="terminal", instruction="x"))
    obs = run(a, TERMINAL_JUNK)
    assert obs.content_text("stdout") == stdout
    notices = "".join(p.text for p in obs.parts if p.kind == "notice")
    if notice is None:
        assert "control characters" not in notices
    else:
        assert notice in notices
    assert "control characters" not in run(a, "echo clean").text


def test_full_screen_program_does_not_flood_the_transcript(
    new_adapter: Callable[..., TerminalAdapter],
) -> None:
    a = new_adapter(timeout_s=5)  # vim waits ~2 s after warning that it has no terminal
    a.reset(Task(id="vi", adapter="terminal", instruction="x"))
    obs = run(a, "vi notes.txt")
    assert obs.info["stdout_bytes"] > 1000  # vi drew its screen...
    assert obs.content_text("stdout") == ""  # ...and none of it reached the transcript
    assert "drew a full screen (cursor moves, screen clears) and were left out" in obs.text
    assert len(obs.text) < 800 and "\x1b" not in obs.text and "\\x1b" not in obs.text
    # a few colours are not a screen: they are shown as escapes
    obs = run(a, r"printf '\033[32mok\033[0m\n'")
    assert obs.content_text("stdout") == "\\x1b[32mok\\x1b[0m\n"
    assert_usable(a)
