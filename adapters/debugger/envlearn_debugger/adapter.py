"""``debugger``: find and fix a bug with a real debugger (pdb for Python, gdb for C).

One episode = a fresh work dir holding the task's program and tests, and one persistent
debugger session on the failing test (Python) or on the compiled program (C), both inside the
terminal adapter's bubblewrap sandbox.  Each reply holds one fenced block:

* ```` ```pdb ```` / ```` ```gdb ```` (or a bare fence): debugger commands, one per line;
* ```` ```edit ````: ``FILE START-END`` and the lines that replace those lines;
* ```` ```diff ````: a unified diff of the editable files;
* ```` ```test ````: run the task's tests (a report of what passed and failed).

``score`` runs the task's pristine tests on the work dir in a separate sandbox: the fraction of
the originally failing tests that now pass, times the fraction of the originally passing tests
that still pass; 0 if a test file in the work dir was changed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from envlearn_terminal.sandbox import (
    ETC_WHITELIST,
    CappedFs,
    Limits,
    SandboxKind,
    SandboxUnavailable,
    UidLease,
    bwrap_problem,
    lease_uid,
    mount_capped_fs,
    rmtree_force,
    write_identity_files,
)

from envlearn.actions import format_help, parse_action
from envlearn.channels import (
    BaseAdapter,
    ChannelSpec,
    EpisodeError,
    Observation,
    Part,
    Task,
    content,
    notice,
)
from envlearn_debugger.edits import EditError, apply_diff, apply_line_edit
from envlearn_debugger.gdb_session import GdbSession
from envlearn_debugger.pdb_session import CommandResult, PdbSession
from envlearn_debugger.proc import Box, Capture, OneShot, run_oneshot

__all__ = ["DebuggerAdapter", "TestOutcome", "format_report", "task_problem"]

CTL_IN_BOX = "/run/envlearn"
TASK_IN_BOX = "/task"
WORK_IN_BOX = "/work"
DEBUG_LANGS = {"python": "pdb", "c": "gdb"}
ACTION_LANGS = {"edit", "diff", "test", "tests"}
MAX_COMMANDS = 8
PER_TEST_S = 5.0


def task_problem(task: Task) -> str | None:
    """What is wrong with a debugger task's data, or None (checked at reset, and by loaders)."""
    d = task.data
    backend = d.get("backend")
    if backend not in DEBUG_LANGS:
        return f"data['backend'] must be 'python' or 'c', got {backend!r}"
    files = d.get("files")
    if (
        not isinstance(files, dict)
        or not files
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    ):
        return "data['files'] must map file names to their text"
    for name in files:
        if name.startswith("/") or ".." in Path(name).parts or name.startswith("."):
            return f"file name {name!r} must be relative, inside the work dir, not hidden"
    for key in ("editable", "tests"):
        names = d.get(key)
        if not isinstance(names, list) or not names:
            return f"data[{key!r}] must be a non-empty list of file names"
        missing = [n for n in names if n not in files]
        if missing:
            return f"data[{key!r}] names {missing}, which are not in data['files']"
    if set(d["editable"]) & set(d["tests"]):
        return "a test file cannot be editable (the verifier checks the tests are untouched)"
    debug = d.get("debug")
    if not isinstance(debug, dict):
        return "data['debug'] must say what runs under the debugger"
    if backend == "python":
        if "test" in debug:
            file, sep, func = str(debug["test"]).partition("::")
            if not sep or file not in files or not func.isidentifier():
                return f"data['debug']['test'] must be 'FILE::FUNCTION', got {debug['test']!r}"
        elif "script" in debug:
            if debug["script"] not in files:
                return f"data['debug']['script'] {debug['script']!r} is not in data['files']"
        else:
            return "data['debug'] needs 'test' (FILE::FUNCTION) or 'script' (FILE)"
    else:
        if not all(n.endswith(".c") for n in d["editable"]):
            return "a C task's editable files must be .c sources"
        if len(d["tests"]) != 1 or not d["tests"][0].endswith(".json"):
            return "a C task has one tests file, a JSON list of cases"
    return None


# ------------------------------------------------------------------------------------------
# tests


@dataclass(frozen=True)
class TestOutcome:
    """One test's result from the sandboxed runner."""

    id: str
    outcome: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def format_report(outcomes: list[TestOutcome]) -> str:
    """The ``test_report`` text: one line per test, then the failures' details, then counts."""
    lines = [f"{o.outcome.upper()} {o.id}" for o in outcomes]
    for o in outcomes:
        if not o.passed and o.detail:
            lines += ["", f"--- {o.id} ---", o.detail.rstrip("\n")]
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.outcome] = counts.get(o.outcome, 0) + 1
    order = ("passed", "failed", "error", "timeout")
    lines += ["", ", ".join(f"{counts[k]} {k}" for k in order if k in counts) or "no tests"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# episodes


@dataclass
class _Episode:
    task: Task
    root: Path
    lease: UidLease
    box: Box
    timeout_s: float
    session: PdbSession | GdbSession | None = None
    fs: CappedFs | None = None
    done: bool = False
    baseline: dict[str, bool] | None = None
    test_digest: dict[str, bytes] = field(default_factory=dict)

    def close(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.session = None
        if self.fs is not None:
            self.fs.close()
        rmtree_force(self.root)
        self.lease.release()


class _Resources:
    """What the finalizer closes; never references the adapter."""

    def __init__(self) -> None:
        self.episode: _Episode | None = None

    def close(self) -> None:
        ep, self.episode = self.episode, None
        if ep is not None:
            ep.close()


_stale_lock = threading.Lock()
_stale_done: set[Path] = set()


def _clean_stale(root: Path) -> None:
    """Remove episode dirs of processes that died without cleaning up (once per root)."""
    with _stale_lock:
        if root in _stale_done:
            return
        _stale_done.add(root)
    for d in root.iterdir():
        pid = d.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            rmtree_force(d)


def _hidden_paths() -> tuple[str, ...]:
    """This package's folder, when the sandbox would otherwise see it (installed under /usr):
    the bundled tasks' oracles must stay out of the model's reach."""
    here = Path(__file__).resolve().parent
    for r in (Path("/usr"), *(Path(p) for p in ETC_WHITELIST)):
        if here == r or r in here.parents:
            return (str(here),)
    return ()


def _script(name: str) -> bytes:
    return (Path(__file__).parent / "scripts" / name).read_bytes()


class _Parts:
    """Observation parts with a running content budget."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.content_bytes = 0

    def add(self, part: Part) -> None:
        if part.text:
            self.parts.append(part)
            if part.kind == "content":
                self.content_bytes += len(part.text.encode())

    def sep(self) -> str:
        last = self.parts[-1].text[-1:] if self.parts else ""
        return "\n" if last not in ("", "\n") else ""

    def capture(self, channel: str, cap: Capture, label: str = "") -> None:
        if cap.empty:
            return
        head, omitted, tail = cap.split()
        if label:
            self.add(notice(self.sep() + label))
        self.add(content(channel, head))
        if omitted:
            self.add(notice(f"{self.sep()}[... {omitted} bytes of {channel} omitted ...]\n"))
            self.add(content(channel, tail))


class DebuggerAdapter(BaseAdapter):
    """pdb / gdb sessions on buggy programs (see the module docstring)."""

    name: ClassVar[str] = "debugger"
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec(name="debugger", description="what pdb or gdb printed for a command"),
        ChannelSpec(name="program_stdout", description="what the debugged program wrote to stdout"),
        ChannelSpec(name="program_stderr", description="what the debugged program wrote to stderr"),
        ChannelSpec(name="test_report", description="the test runner's report"),
        ChannelSpec(name="locals", description="gdb's info locals / info args / info frame"),
        ChannelSpec(name="registers", description="gdb's info registers"),
        ChannelSpec(name="compiler", description="gcc's messages when an edited C file is rebuilt"),
        ChannelSpec(
            name="notice",
            kind="notice",
            description="command echoes, labels, exits, restarts, timeouts, cuts, format hints",
        ),
    )
    deterministic: ClassVar[bool] = False

    def __init__(
        self,
        *,
        sandbox: str = "bwrap",
        timeout_s: float = 5.0,
        max_output_bytes: int = 2048,
        max_observation_bytes: int = 6000,
        test_timeout_s: float = 60.0,
        cpu_s: int = 60,
        memory_mb: int = 2048,
        nproc: int = 64,
        disk_mb: int = 256,
        disk_inodes: int = 20000,
        workdir_root: str | os.PathLike[str] | None = None,
    ) -> None:
        if sandbox not in ("bwrap", "none"):
            raise ValueError(
                f"sandbox must be 'bwrap' (the default) or 'none' (unsafe), got {sandbox!r}"
            )
        for opt, v in (("timeout_s", timeout_s), ("test_timeout_s", test_timeout_s)):
            if not isinstance(v, int | float) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{opt} must be a positive number of seconds, got {v!r}")
        if not isinstance(max_output_bytes, int) or max_output_bytes < 256:
            raise ValueError(
                f"max_output_bytes must be an integer >= 256, got {max_output_bytes!r}"
            )
        if not isinstance(max_observation_bytes, int) or max_observation_bytes < max_output_bytes:
            raise ValueError(
                "max_observation_bytes must be an integer >= max_output_bytes "
                f"({max_output_bytes}), got {max_observation_bytes!r}"
            )
        if sandbox == "bwrap":
            problem = bwrap_problem()
            if problem is not None:
                raise SandboxUnavailable(
                    f"{problem}. The debugger adapter runs programs only in the sandbox: install "
                    "bubblewrap, or pass sandbox='none' (no isolation at all)"
                )
        for tool in ("gdb", "gcc"):
            if shutil.which(tool) is None:
                raise SandboxUnavailable(
                    f"{tool} is not installed: apt-get install -y gdb gcc (./run.sh setup does it)"
                )
        self.sandbox: SandboxKind = "bwrap" if sandbox == "bwrap" else "none"
        for opt, n in (("disk_mb", disk_mb), ("disk_inodes", disk_inodes)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 16:
                raise ValueError(f"{opt} must be an integer >= 16, got {n!r}")
        self.limits = Limits(cpu_s=cpu_s, memory_mb=memory_mb, nproc=nproc)
        self.disk_mb = disk_mb
        self.disk_inodes = disk_inodes
        self.timeout_s = float(timeout_s)
        self.max_output_bytes = max_output_bytes
        self.max_observation_bytes = max_observation_bytes
        self.test_timeout_s = float(test_timeout_s)
        root = Path(workdir_root) if workdir_root is not None else None
        self.workdir_root = root or Path(tempfile.gettempdir()) / "envlearn-debugger"
        self.workdir_root.mkdir(parents=True, exist_ok=True)
        self.workdir_root.chmod(0o711)
        _clean_stale(self.workdir_root)
        self._res = _Resources()
        self._finalizer = weakref.finalize(self, self._res.close)
        self._closed = False
        self.last_outcomes: list[TestOutcome] = []

    # -------------------------------------------------------------------- info

    def _timeout(self, task: Task) -> float:
        t = task.data.get("timeout_s", self.timeout_s)
        if not isinstance(t, int | float) or isinstance(t, bool) or t <= 0:
            raise ValueError(f"task {task.id!r}: data['timeout_s'] must be positive, got {t!r}")
        return float(t)

    def system_prompt(self, task: Task) -> str:
        """What the environment is and the action language, with examples."""
        backend = task.data.get("backend", "python")
        lang = DEBUG_LANGS.get(backend, "pdb")
        editable = ", ".join(task.data.get("editable", [])) or "the program's files"
        first_file = (task.data.get("editable") or [""])[0]
        if backend == "c":
            what = (
                "a C program, compiled with gcc -g -O0 to /work/prog and loaded in gdb (stopped "
                "at the start of main). The program's tests are cases in "
                f"{', '.join(task.data.get('tests', []))}."
            )
            dbg_example = "```gdb\nbreak sum_range\ncontinue\ninfo locals\n```"
            edit_example = (
                f"```edit\n{first_file or 'prog.c'} 7-7\n  for (int i = 0; i < n; i++)\n```"
            )
            hint = (
                "Use ordinary gdb commands (break, run, continue, next, step, finish, print, "
                "info locals, info registers, backtrace, list, up, down). Editing a .c file "
                "rebuilds the program and restarts it in gdb."
            )
        else:
            what = (
                "a Python program under pdb, stopped at the first line of "
                f"{task.data.get('debug', {}).get('test') or task.data.get('debug', {}).get('script')}."
            )
            dbg_example = "```pdb\nbreak stats.py:12\ncontinue\np xs, mid\n```"
            edit_example = (
                f"```edit\n{first_file or 'stats.py'} 12-12\n    return xs[len(xs) // 2]\n```"
            )
            hint = (
                "Use ordinary pdb commands (break, continue, next, step, return, p, pp, where, "
                "list, up, down, args). When the program ends it restarts under pdb; editing a "
                "file restarts it too (breakpoints are kept)."
            )
        return (
            f"You are fixing a bug with a debugger, in a sandbox with no network. You have {what} "
            f"Your working directory is {WORK_IN_BOX}; the files you may edit: {editable}. Do not "
            "edit the tests.\n\n"
            "Each reply holds ONE fenced block, one of:\n"
            f"1. debugger commands, one per line (at most {MAX_COMMANDS}), in a ```{lang} block, "
            f"for example:\n{dbg_example}\n{hint}\n"
            "2. an edit: ```edit with a first line 'FILE START-END', then the lines that replace "
            f"lines START..END (inclusive), for example:\n{edit_example}\n"
            "   or a unified diff in a ```diff block (--- a/FILE, +++ b/FILE, @@ hunks).\n"
            "3. ```test with the word run: runs the tests and reports what passed and failed.\n"
            f"Each debugger command may run {self._timeout(task):g} s before the program is "
            f"interrupted; output beyond {self.max_output_bytes} bytes per stream is cut.\n\n"
            + format_help("```test\nrun\n```")
        )

    @property
    def session(self) -> PdbSession | GdbSession | None:
        """The current episode's debugger session (tests, benchmarks)."""
        ep = self._res.episode
        return ep.session if ep else None

    @property
    def workdir(self) -> Path | None:
        """The current episode's work dir on the host."""
        ep = self._res.episode
        return ep.box.work if ep else None

    # -------------------------------------------------------------------- lifecycle

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """Fresh work dir with the task's files, then a fresh debugger session."""
        if self._closed:
            raise RuntimeError("the debugger adapter is closed; make a new one")
        problem = task_problem(task)
        if problem is not None:
            raise ValueError(f"task {task.id!r}: {problem}")
        timeout = self._timeout(task)
        self._res.close()
        lease = lease_uid()
        try:
            root = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=self.workdir_root))
        except BaseException:
            lease.release()
            raise
        box = Box(
            work=root / "space" / "work",
            home=root / "space" / "home",
            ctl=root / "ctl",
            uid=lease.uid,
            sandbox=self.sandbox,
            limits=self.limits,
            ro_binds=((str(root / "space" / "task"), TASK_IN_BOX),),
            hide=_hidden_paths(),
        )
        ep = _Episode(task=task, root=root, lease=lease, box=box, timeout_s=timeout)
        self._res.episode = ep
        try:
            self._prepare(ep)
            first = self._start_session(ep)
            baseline = task.data.get("baseline")
            if isinstance(baseline, dict) and baseline:
                ep.baseline = {str(k): bool(v) for k, v in baseline.items()}
            else:
                ep.baseline = {o.id: o.passed for o in self._run_tests(ep)}
        except BaseException:
            self._res.close()
            raise
        pl = _Parts()
        tool = "pdb" if task.data["backend"] == "python" else "gdb"
        pl.add(notice(f"[{tool} is ready in {WORK_IN_BOX}]\n"))
        self._add_result(pl, first, ep)
        return Observation(parts=pl.parts)

    def _box_path(self, ep: _Episode, host: Path, inside: str) -> str:
        return ep.box.path_in_box(host, inside)

    def _prepare(self, ep: _Episode) -> None:
        box = ep.box
        ep.root.chmod(0o711)
        # work dir, home and the tests' copy on one tmpfs capped in bytes and files (as root)
        ep.fs = mount_capped_fs(
            ep.root / "space", max_bytes=self.disk_mb << 20, max_inodes=self.disk_inodes
        )
        (ep.root / "space").chmod(0o755)
        box.work.mkdir(mode=0o755)
        box.home.mkdir(mode=0o700)
        box.ctl.mkdir(mode=0o755)
        task_copy = ep.root / "space" / "task"
        task_copy.mkdir(mode=0o755)
        files: dict[str, str] = ep.task.data["files"]
        for name, text in files.items():
            p = box.work / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
            p.chmod(0o644)
            if name in ep.task.data["tests"]:
                (task_copy / name).parent.mkdir(parents=True, exist_ok=True)
                (task_copy / name).write_text(text, encoding="utf-8")
                (task_copy / name).chmod(0o644)
                ep.test_digest[name] = text.encode("utf-8")
        if os.geteuid() == 0:
            for d, _dirs, names in os.walk(box.work):
                os.chown(d, box.uid, box.uid)
                for n in names:
                    os.chown(os.path.join(d, n), box.uid, box.uid)
            os.chown(box.home, box.uid, box.uid)
        write_identity_files(box.ctl, box.uid)
        for script in ("pdb_driver.py", "test_runner.py"):
            (box.ctl / script).write_bytes(_script(script))
            (box.ctl / script).chmod(0o644)

    def _compile(self, ep: _Episode) -> OneShot:
        srcs = ep.task.data.get("sources") or ep.task.data["editable"]
        return run_oneshot(
            ep.box,
            ["gcc", "-g", "-O0", "-std=gnu11", "-Wall", "-o", "prog", *srcs, "-lm"],
            timeout_s=60.0,
        )

    def _start_session(self, ep: _Episode) -> CommandResult:
        d = ep.task.data
        if d["backend"] == "python":
            debug = d["debug"]
            if "test" in debug:
                target = ["test", str(debug["test"])]
            else:
                target = ["script", str(debug["script"]), *map(str, debug.get("args", []))]
            ep.session = PdbSession(ep.box, target, max_output_bytes=self.max_output_bytes)
            return ep.session.first
        cc = self._compile(ep)
        if cc.returncode != 0:
            h, _, t = cc.stderr.split()
            raise EpisodeError(f"task {ep.task.id!r}: the program does not compile: {h}{t}")
        program = self._box_path(ep, ep.box.work / "prog", f"{WORK_IN_BOX}/prog")
        ep.session = GdbSession(
            ep.box,
            program,
            [str(a) for a in d["debug"].get("args", [])],
            max_output_bytes=self.max_output_bytes,
        )
        return ep.session.first

    # -------------------------------------------------------------------- steps

    def _episode(self) -> _Episode:
        if self._closed:
            raise RuntimeError("the debugger adapter is closed; make a new one")
        ep = self._res.episode
        if ep is None or ep.session is None:
            raise RuntimeError("step() before reset(): call reset(task) first")
        return ep

    def step(self, action_text: str) -> Observation:
        """Run the reply's block: debugger commands, an edit, or the tests."""
        ep = self._episode()
        if ep.done:
            raise RuntimeError("step() after the episode ended: call reset(task) for a new one")
        lang = DEBUG_LANGS[ep.task.data["backend"]]
        example = f"```{lang}\nwhere\n```"
        action = parse_action(action_text, languages={lang, *ACTION_LANGS}, example=example)
        if action.kind == "complete":
            ep.done = True
            return Observation(parts=[notice("[episode ended: TASK COMPLETE]\n")], done=True)
        if action.kind == "invalid":
            return Observation(parts=[notice(f"[{action.problem}]\n")])
        body = action.body or ""
        if "\x00" in body:
            return Observation(
                parts=[notice("[the block contains a NUL character; nothing ran]\n")]
            )
        pl = _Parts()
        info: dict[str, Any] = {"action": "debugger"}
        if action.language in ("edit", "diff"):
            info["action"] = "edit"
            self._edit(ep, action.language, body, pl)
        elif action.language in ("test", "tests"):
            info["action"] = "test"
            outcomes = self._run_tests(ep)
            self.last_outcomes = outcomes
            info["tests_passed"] = sum(o.passed for o in outcomes)
            info["tests_total"] = len(outcomes)
            pl.add(content("test_report", format_report(outcomes)))
        else:
            self._commands(ep, body, pl, lang)
        if action.extra_blocks:
            pl.add(
                notice(f"{pl.sep()}[{action.extra_blocks} more block(s) ignored: one per reply]\n")
            )
        if ep.fs is not None and ep.fs.full():
            pl.add(
                notice(
                    f"{pl.sep()}[the work space is full ({self.disk_mb} MB or "
                    f"{self.disk_inodes} files): writes fail until files are removed]\n"
                )
            )
        if action.complete:
            ep.done = True
        info["session_restarts"] = ep.session.restarts if ep.session else 0
        return Observation(parts=pl.parts, done=ep.done, info=info)

    def _commands(self, ep: _Episode, body: str, pl: _Parts, lang: str) -> None:
        lines = [ln.strip() for ln in body.split("\n") if ln.strip()]
        if len(lines) > MAX_COMMANDS:
            pl.add(notice(f"[only the first {MAX_COMMANDS} of {len(lines)} commands run]\n"))
            lines = lines[:MAX_COMMANDS]
        prompt = "(Pdb)" if lang == "pdb" else "(gdb)"
        assert ep.session is not None
        for k, line in enumerate(lines):
            if pl.content_bytes >= self.max_observation_bytes:
                pl.add(
                    notice(
                        f"{pl.sep()}[output budget of {self.max_observation_bytes} bytes reached: "
                        f"{len(lines) - k} command(s) not run]\n"
                    )
                )
                return
            pl.add(notice(f"{pl.sep()}{prompt} {line}\n"))
            r = ep.session.run(line, timeout_s=ep.timeout_s)
            self._add_result(pl, r, ep)
            if r.session_restarted:
                if k + 1 < len(lines):
                    pl.add(notice(f"[{len(lines) - k - 1} command(s) after it were not run]\n"))
                return

    def _add_result(self, pl: _Parts, r: CommandResult, ep: _Episode) -> None:
        pl.capture("program_stdout", r.stdout, "[program stdout]\n")
        pl.capture("program_stderr", r.stderr, "[program stderr]\n")
        for ch, cap in r.extra.items():
            pl.capture(ch, cap)
        pl.capture("debugger", r.debugger)
        python = ep.task.data["backend"] == "python"
        for code in r.exited:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            again = "; it was restarted under pdb" if python else ""
            pl.add(notice(f"{pl.sep()}[the program {how}{again}]\n"))
        if r.timed_out:
            pl.add(
                notice(
                    f"{pl.sep()}[timed out after {ep.timeout_s:g} s: the program was interrupted]\n"
                )
            )
        if r.overflow:
            pl.add(notice(f"{pl.sep()}[the program printed too much and was interrupted]\n"))
        if r.session_restarted:
            tool = "pdb" if python else "gdb"
            pl.add(
                notice(
                    f"{pl.sep()}[{tool} was restarted: {r.session_restarted}. Breakpoints are "
                    "cleared; your edits to the files are kept]\n"
                )
            )

    def _edit(self, ep: _Episode, kind: str, body: str, pl: _Parts) -> None:
        editable = ep.task.data["editable"]
        try:
            if kind == "edit":
                results = [apply_line_edit(body, ep.box.work, editable)]
            else:
                results = apply_diff(body, ep.box.work, editable)
        except EditError as e:
            pl.add(notice(f"[edit not applied: {e}]\n"))
            return
        except OSError as e:
            pl.add(notice(f"[edit not applied: {e.strerror or e}]\n"))
            return
        for res in results:
            pl.add(notice(f"[edited {res.describe()}]\n"))
        assert ep.session is not None
        if ep.task.data["backend"] == "python":
            pl.add(notice("(Pdb) restart\n"))
            self._add_result(pl, ep.session.run("restart", timeout_s=ep.timeout_s), ep)
            return
        cc = self._compile(ep)
        pl.capture("compiler", cc.stderr)
        if cc.returncode != 0:
            pl.add(notice(f"{pl.sep()}[the build failed: gdb still runs the previous program]\n"))
            return
        pl.add(notice(f"{pl.sep()}[rebuilt /work/prog]\n(gdb) start\n"))
        self._add_result(pl, ep.session.run("start", timeout_s=ep.timeout_s), ep)

    # -------------------------------------------------------------------- tests & score

    def _run_tests(self, ep: _Episode) -> list[TestOutcome]:
        d = ep.task.data
        ctl = self._box_path(ep, ep.box.ctl, CTL_IN_BOX)
        work = self._box_path(ep, ep.box.work, WORK_IN_BOX)
        tests_dir = self._box_path(ep, ep.root / "space" / "task", TASK_IN_BOX)
        if d["backend"] == "python":
            rest = list(d["tests"])
        else:
            rest = [d["tests"][0], *(d.get("sources") or d["editable"])]
        nonce = secrets.token_hex(16)
        r = run_oneshot(
            ep.box,
            [
                "/usr/bin/python3",
                "-I",
                "-B",
                f"{ctl}/test_runner.py",
                d["backend"],
                work,
                tests_dir,
                str(d.get("per_test_s", PER_TEST_S)),
                *rest,
            ],
            timeout_s=self.test_timeout_s,
            secret=nonce.encode(),
        )
        head, _, body = r.results.decode("utf-8", "replace").partition("\n")
        try:
            if head != nonce:
                raise ValueError("no results")
            tests = json.loads(body)["tests"]
            return [TestOutcome(str(t["id"]), str(t["outcome"]), str(t["detail"])) for t in tests]
        except (ValueError, KeyError, TypeError):
            why = "timed out" if r.timed_out else f"ended without a report (exit {r.returncode})"
            h, _, t = r.stderr.split()
            detail = f"the test run {why}" + (f"; stderr:\n{(h + t)[-800:]}" if h or t else "")
            base = ep.baseline or {}
            ids = list(base) or list(d["tests"])
            return [TestOutcome(i, "error", detail) for i in ids]

    def score(self) -> float:
        """Tests untouched, then: fixed/originally-failing × still-passing/originally-passing."""
        if self._closed:
            raise RuntimeError("the debugger adapter is closed; make a new one")
        ep = self._res.episode
        if ep is None:
            raise RuntimeError("score() before reset(): call reset(task) first")
        for name, original in ep.test_digest.items():
            try:
                if (ep.box.work / name).read_bytes() != original:
                    return 0.0
            except OSError:
                return 0.0
        outcomes = {o.id: o.passed for o in self._run_tests(ep)}
        self.last_outcomes = [
            TestOutcome(k, "passed" if v else "failed") for k, v in outcomes.items()
        ]
        base = ep.baseline or {}
        failing = [t for t, ok in base.items() if not ok]
        passing = [t for t, ok in base.items() if ok]
        if not failing:
            raise EpisodeError(f"task {ep.task.id!r}: no test fails on the buggy program")
        fixed = sum(1 for t in failing if outcomes.get(t, False)) / len(failing)
        kept = sum(1 for t in passing if outcomes.get(t, False)) / len(passing) if passing else 1.0
        return fixed * kept

    def close(self) -> None:
        """Kill the debugger and everything it started, delete the work dir (idempotent)."""
        self._closed = True
        self._finalizer()

    def info(self) -> dict[str, Any]:
        """Counts for tests and benchmarks."""
        ep = self._res.episode
        return {"restarts": ep.session.restarts if ep and ep.session else 0}
