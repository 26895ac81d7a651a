"""The native backend through the adapter: gdb/MI on a C program compiled in the sandbox."""

from __future__ import annotations

import json

import pytest
from envlearn_terminal.sandbox import processes_in_pid_namespace

from .conftest import SessionTrace, c_task, gdb, wait_until

pytestmark = pytest.mark.integration

PROG = r"""#include <stdio.h>
#include <stdlib.h>

int scale(int x) {
  int k = 3;
  return x * k;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  printf("n=%d\n", n);
  fprintf(stderr, "warn\n");
  if (n == 7) { int *p = NULL; *p = 1; }
  if (n == 9) { volatile int spin = 0; while (1) spin++; }
  printf("%d\n", scale(n));
  return 0;
}
"""
CASES = json.dumps({"cases": [{"name": "two", "args": ["2"], "stdout": "n=2\n7\n"}]})


def test_breakpoints_locals_registers_and_program_output(new_adapter):
    a = new_adapter()
    obs = a.reset(c_task(PROG, CASES, args=["2"]))
    assert "Temporary breakpoint 1, main (argc=2" in obs.content_text("debugger")
    obs = a.step(gdb("break scale", "continue", "next", "info locals", "info registers rip"))
    assert obs.content_text("program_stdout") == "n=2\n"
    assert obs.content_text("program_stderr") == "warn\n"
    assert "Breakpoint 2, scale (x=2) at prog.c:5" in obs.content_text("debugger")
    assert obs.content_text("locals") == "k = 3\n"
    assert obs.content_text("registers").startswith("rip ")
    obs = a.step(gdb("finish"))
    assert "Value returned is $1 = 6" in obs.content_text("debugger")
    obs = a.step(gdb("continue"))
    assert obs.content_text("program_stdout") == "6\n"
    assert "[Inferior 1 (process" in obs.content_text("debugger")
    assert "[the program exited with code 0]" in obs.text
    obs = a.step(gdb("print nosuchvar"))
    assert obs.content_text("debugger") == 'No symbol "nosuchvar" in current context.\n'


def test_a_segfault_is_an_observation(new_adapter):
    a = new_adapter()
    a.reset(c_task(PROG, CASES, args=["7"]))
    obs = a.step(gdb("continue", "bt", "p p"))
    text = obs.content_text("debugger")
    assert "Program received signal SIGSEGV, Segmentation fault." in text
    assert "in main (argc=2" in text and "$1 = (int *) 0x0" in text
    obs = a.step(gdb("continue"))
    assert "Program terminated with signal SIGSEGV" in obs.content_text("debugger")
    assert "[the program was killed by signal 11]" in obs.text
    assert a.step(gdb("print 1 + 1")).content_text("debugger") == "$2 = 2\n"


def test_hung_program_is_interrupted_at_the_deadline_and_the_episode_goes_on(new_adapter):
    a = new_adapter(timeout_s=1.0)
    a.reset(c_task(PROG, CASES, args=["9"]))
    obs = a.step(gdb("continue", "print 41 + 1"))
    assert "[timed out after 1 s: the program was interrupted]" in obs.text
    assert "Program received signal SIGINT, Interrupt." in obs.content_text("debugger")
    # the session answers after the interrupt (what `spin` holds depends on the CPU: it may
    # not have run yet, or have wrapped around)
    assert obs.content_text("debugger").endswith("= 42\n")
    assert a.session is not None and a.session.restarts == 0


def test_edit_rebuilds_and_compile_errors_are_shown(new_adapter):
    a = new_adapter()
    a.reset(c_task(PROG, CASES, args=["2"]))
    obs = a.step("```edit\nprog.c 5-5\n  int k = ;\n```")
    assert "error: expected expression" in obs.content_text("compiler")
    assert "[the build failed: gdb still runs the previous program]" in obs.text
    obs = a.step("```edit\nprog.c 5-5\n  int k = 7 - 4 + 1;\n```")
    assert "[rebuilt /work/prog]" in obs.text
    assert "Temporary breakpoint" in obs.content_text("debugger")
    obs = a.step("```test\nrun\n```")
    assert obs.content_text("test_report").startswith("FAILED cases.json::two\n")
    assert "stdout 'n=2\\n8\\n', expected 'n=2\\n7\\n'" in obs.content_text("test_report")


def test_close_leaves_no_process(new_adapter):
    a = new_adapter()
    a.reset(c_task(PROG, CASES, args=["9"]))
    a.session.run("continue", timeout_s=0.3)  # leave the program spinning
    trace = SessionTrace.of(a)
    a.close()
    trace.assert_gone()


def test_a_gdb_that_stops_answering_is_restarted(new_adapter):
    a = new_adapter(timeout_s=1.0)
    a.reset(c_task(PROG, CASES, args=["2"]))
    old = SessionTrace.of(a)
    obs = a.step(gdb("shell sleep 60", "print 1"))
    assert "[gdb was restarted: gdb did not answer in time, so it was killed." in obs.text
    assert "[1 command(s) after it were not run]" in obs.text
    assert "Temporary breakpoint 1, main (argc=2" in obs.content_text("debugger")  # fresh start
    assert wait_until(lambda: not processes_in_pid_namespace(old.ns))
    assert a.step(gdb("print 2 + 2")).content_text("debugger") == "$1 = 4\n"
