"""Runs inside the sandbox: a task's tests against the program in the work dir.

fd 3 holds a nonce from the host (read first, before any task code runs); the results go to
fd 4 as the nonce, a newline and one JSON object ``{"tests": [{"id", "outcome", "detail"}]}``
(outcome ``passed``, ``failed``, ``error`` or ``timeout``).

Usage:
  test_runner.py python WORKDIR TESTDIR PER_TEST_S FILE...     test_* functions of each file
  test_runner.py c WORKDIR TESTDIR PER_TEST_S CASES.json SRC... compile SRC, run each case
"""

import io
import json
import os
import signal
import subprocess
import sys
import traceback

with os.fdopen(3, "rb") as _f:
    _NONCE = _f.read().decode().strip()
_RESULTS = os.fdopen(4, "w", encoding="utf-8")
MAX_DETAIL = 1500


class _TestTimeout(BaseException):
    """Raised in a test that ran past its time (a BaseException: `except Exception` in the
    program under test does not swallow it)."""


def _on_alarm(signum, frame):
    raise _TestTimeout()


def _detail(exc: BaseException, keep: tuple[str, ...]) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(keep)]
    lines = traceback.format_list(frames[-8:])
    lines += traceback.format_exception_only(type(exc), exc)
    text = "Traceback (most recent call last):\n" + "".join(lines)
    return text if len(text) <= MAX_DETAIL else "..." + text[-MAX_DETAIL:]


def run_python(workdir: str, testdir: str, per_test_s: float, files: list[str]) -> list[dict]:
    import importlib.util

    sys.path.insert(0, workdir)
    os.chdir(workdir)
    signal.signal(signal.SIGALRM, _on_alarm)
    out = []
    keep = (workdir + os.sep, testdir + os.sep)
    for file in files:
        path = os.path.join(testdir, file)
        name = os.path.splitext(os.path.basename(file))[0]
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            signal.setitimer(signal.ITIMER_REAL, per_test_s)
            try:
                spec.loader.exec_module(mod)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except BaseException as e:  # the module (or the program it imports) is broken
            out.append({"id": file, "outcome": "error", "detail": _detail(e, keep)})
            continue
        tests = [(k, v) for k, v in vars(mod).items() if k.startswith("test") and callable(v)]
        for fname, fn in tests:
            tid = f"{file}::{fname}"
            saved = sys.stdout, sys.stderr
            sys.stdout = sys.stderr = io.StringIO()
            try:
                signal.setitimer(signal.ITIMER_REAL, per_test_s)
                fn()
                signal.setitimer(signal.ITIMER_REAL, 0)
                outcome, detail = "passed", ""
            except _TestTimeout:
                outcome, detail = "timeout", f"the test ran longer than {per_test_s:g} s"
            except AssertionError as e:
                signal.setitimer(signal.ITIMER_REAL, 0)
                outcome, detail = "failed", _detail(e, keep)
            except BaseException as e:
                signal.setitimer(signal.ITIMER_REAL, 0)
                outcome, detail = "error", _detail(e, keep)
            finally:
                sys.stdout, sys.stderr = saved
            out.append({"id": tid, "outcome": outcome, "detail": detail})
    return out


def _show(b: bytes, n: int = 300) -> str:
    s = b.decode("utf-8", "replace")
    return repr(s if len(s) <= n else s[:n] + "...")


def run_c(workdir: str, testdir: str, per_test_s: float, cases_file: str, srcs: list[str]):
    with open(os.path.join(testdir, cases_file), encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    exe = "/tmp/envlearn-test-prog"
    cc = subprocess.run(
        ["gcc", "-g", "-O0", "-std=gnu11", "-Wall", "-o", exe, *srcs, "-lm"],
        cwd=workdir,
        capture_output=True,
        timeout=60,
    )
    if cc.returncode != 0:
        why = "compilation failed:\n" + cc.stderr.decode("utf-8", "replace")[-MAX_DETAIL:]
        return [
            {"id": f"{cases_file}::{c['name']}", "outcome": "error", "detail": why} for c in cases
        ]
    out = []
    for c in cases:
        tid = f"{cases_file}::{c['name']}"
        try:
            p = subprocess.run(
                [exe, *c.get("args", [])],
                input=c.get("stdin", "").encode(),
                capture_output=True,
                timeout=per_test_s,
                cwd=workdir,
            )
        except subprocess.TimeoutExpired:
            out.append(
                {"id": tid, "outcome": "timeout", "detail": f"ran longer than {per_test_s:g} s"}
            )
            continue
        want_out = c["stdout"].encode()
        want_rc = c.get("exit_code", 0)
        problems = []
        if p.returncode < 0:
            problems.append(f"killed by {signal.Signals(-p.returncode).name}")
        elif p.returncode != want_rc:
            problems.append(f"exit code {p.returncode}, expected {want_rc}")
        if p.stdout != want_out:
            problems.append(f"stdout {_show(p.stdout)}, expected {_show(want_out)}")
        args = " ".join(c.get("args", []))
        detail = f"$ ./prog {args}".rstrip() + "\n" + "; ".join(problems) if problems else ""
        out.append({"id": tid, "outcome": "failed" if problems else "passed", "detail": detail})
    return out


def main() -> None:
    lang, workdir, testdir, per_test = sys.argv[1:5]
    rest = sys.argv[5:]
    if lang == "python":
        results = run_python(workdir, testdir, float(per_test), rest)
    else:
        results = run_c(workdir, testdir, float(per_test), rest[0], rest[1:])
    _RESULTS.write(_NONCE + "\n" + json.dumps({"tests": results}) + "\n")
    _RESULTS.flush()
    os._exit(0)  # skip atexit handlers of the program under test


main()
