"""The Python backend through the adapter: a persistent, sandboxed pdb, its channels, notices,
deadlines and cleanup."""

from __future__ import annotations

import os

import pytest
from envlearn_terminal.sandbox import processes_in_pid_namespace

from .conftest import SessionTrace, pdb, py_task, wait_until

pytestmark = pytest.mark.integration

PROG = """import sys


def double(x):
    y = x * 2
    print("y is", y)
    return y


print("start")
z = double(21)
print("z", z, file=sys.stderr)
"""
TESTS = "from prog import double\n\n\ndef test_double():\n    assert double(2) == 5\n"


def test_session_persists_and_channels_are_separate(new_adapter):
    a = new_adapter()
    obs = a.reset(py_task(PROG, TESTS))
    assert obs.content_text("debugger") == "> /work/prog.py(1)<module>()\n-> import sys\n"
    obs = a.step(pdb("break prog.py:5", "continue", "p x"))
    assert obs.content_text("debugger") == (
        "Breakpoint 1 at /work/prog.py:5\n> /work/prog.py(5)double()\n-> y = x * 2\n21\n"
    )
    assert obs.content_text("program_stdout") == "start\n"
    notices = "".join(p.text for p in obs.parts if p.kind == "notice")
    assert "(Pdb) break prog.py:5\n" in notices and "(Pdb) p x\n" in notices
    # state persists across turns: still stopped in double(), with its locals
    obs = a.step(pdb("next", "p y"))
    assert obs.content_text("debugger").endswith("42\n")
    # running off the end: stdout/stderr on their channels, an exit notice, restarted at line 1
    obs = a.step(pdb("continue"))
    assert obs.content_text("program_stdout") == "y is 42\n"
    assert obs.content_text("program_stderr") == "z 42\n"
    assert obs.content_text("debugger") == (
        "The program finished and will be restarted\n> /work/prog.py(1)<module>()\n-> import sys\n"
    )
    assert "[the program exited with code 0; it was restarted under pdb]" in obs.text
    assert (
        a.step(pdb("p zz")).content_text("debugger") == "*** NameError: name 'zz' is not defined\n"
    )


def test_uncaught_exception_enters_post_mortem(new_adapter):
    a = new_adapter()
    a.reset(py_task("def f(d):\n    return d['k']\n\n\nf({})\n", TESTS))
    obs = a.step(pdb("continue", "p d"))
    assert "KeyError: 'k'" in obs.content_text("program_stderr")
    assert "Uncaught exception. Entering post mortem debugging" in obs.content_text("debugger")
    assert obs.content_text("debugger").endswith("{}\n")


def test_hung_program_is_interrupted_at_the_deadline_and_the_episode_goes_on(new_adapter):
    a = new_adapter(timeout_s=1.0)
    a.reset(py_task("i = 0\nwhile True:\n    i += 1\n", TESTS))
    obs = a.step(pdb("continue", "p i > 0"))
    assert "[timed out after 1 s: the program was interrupted]" in obs.text
    assert "Program interrupted. (Use 'cont' to resume)." in obs.content_text("debugger")
    # the command after the interrupted one ran in the same, still live session
    assert obs.content_text("debugger").endswith("True\n")
    assert a.session is not None and a.session.restarts == 0


def test_program_that_ignores_sigint_is_killed_and_pdb_restarted(new_adapter):
    prog = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
    a = new_adapter(timeout_s=1.0)
    a.reset(py_task(prog, TESTS))
    old = SessionTrace.of(a)
    obs = a.step(pdb("continue", "p 1"))
    assert "[timed out after 1 s" in obs.text
    assert "[pdb was restarted: the program did not stop after an interrupt" in obs.text
    assert "[1 command(s) after it were not run]" in obs.text
    assert a.session is not None and a.session.restarts == 1
    # the killed session's processes are gone; the episode goes on in a new one
    assert a.session.proc is not None and a.session.proc.ns != old.ns
    assert wait_until(lambda: not processes_in_pid_namespace(old.ns))
    obs = a.step(pdb("p 1 + 1"))
    assert obs.content_text("debugger") == "2\n"


def test_output_floods_are_cut_with_a_notice(new_adapter):
    a = new_adapter(max_output_bytes=512)
    a.reset(py_task("print('x' * 100000)\n", TESTS))
    obs = a.step(pdb("continue"))
    out = obs.content_text("program_stdout")
    assert len(out.encode()) <= 512 and out.startswith("xxx") and out.endswith("x\n")
    assert "bytes of program_stdout omitted ...]" in obs.text


def test_close_leaves_no_process_and_no_files(new_adapter):
    a = new_adapter()
    a.reset(py_task("import subprocess\nsubprocess.Popen(['sleep', '300'])\nx = 1\n", TESTS))
    a.step(pdb("next", "next", "next"))
    trace = SessionTrace.of(a)
    a.close()
    trace.assert_gone()
    a.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        a.step(pdb("p 1"))


def test_malformed_and_wrong_language_replies_get_notices(new_adapter):
    a = new_adapter()
    a.reset(py_task(PROG, TESTS))
    for reply, want in [
        ("no block here", "has no code block"),
        ("```gdb\nbt\n```", "```pdb"),
        ("```pdb\np 1", "not closed"),
    ]:
        obs = a.step(reply)
        assert all(p.kind == "notice" for p in obs.parts) and want in obs.text, obs.text
    obs = a.step("```pdb\np 1\n```\nTASK COMPLETE")  # the action runs, then the episode ends
    assert obs.done and obs.content_text("debugger") == "1\n"
    with pytest.raises(RuntimeError, match="after the episode ended"):
        a.step(pdb("p 1"))


def test_quit_and_a_dying_debugger_are_answered_and_the_session_goes_on(new_adapter):
    a = new_adapter()
    a.reset(py_task(PROG, TESTS))
    obs = a.step(pdb("quit"))
    assert "[the program exited with code 0; it was restarted under pdb]" in obs.text
    assert obs.content_text("debugger").endswith("> /work/prog.py(1)<module>()\n-> import sys\n")
    obs = a.step(pdb("!import os; os._exit(3)"))
    assert "[pdb was restarted: pdb exited." in obs.text
    assert a.step(pdb("p 6 * 7")).content_text("debugger") == "42\n"


def test_the_sandbox_hides_the_host_and_the_task_sources(new_adapter):
    import envlearn_debugger

    pkg = os.path.dirname(envlearn_debugger.__file__)
    a = new_adapter()
    a.reset(py_task(PROG, TESTS))
    probe = f"p [os.path.exists(p) for p in ({pkg!r}, '/root', '/etc/shadow')], os.getuid() != 0"
    obs = a.step(pdb("import os", probe))
    assert obs.content_text("debugger").endswith("([False, False, False], True)\n"), obs.text


def test_the_work_space_is_capped_in_bytes(new_adapter):
    a = new_adapter(disk_mb=16)
    a.reset(py_task(PROG, TESTS))
    if not a._res.episode.fs.capped:
        pytest.skip("this process cannot mount a tmpfs (not root): the work space is not capped")
    obs = a.step(pdb("!open('/work/big', 'wb').write(b'x' * (20 << 20))"))
    assert "No space left on device" in obs.content_text("debugger")
    assert "[the work space is full (16 MB or 20000 files)" in obs.text
    assert (
        a.step(pdb("!import os; os.remove('/work/big')", "p 1")).content_text("debugger") == "1\n"
    )
