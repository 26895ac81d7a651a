"""Runs inside the sandbox: a persistent pdb session on a script or one test function.

fd 3: debugger commands in (one per line); fd 4: what pdb prints; fd 5: events for the host
(``READY`` when pdb waits for a command, ``EXITED <code>`` when the program ended and is about
to be restarted).  The program's own stdout/stderr stay on fds 1 and 2.

Usage: pdb_driver.py WORKDIR script PATH [ARGS...] | pdb_driver.py WORKDIR test FILE::FUNC
"""

import bdb
import builtins
import importlib.util
import os
import pdb
import sys
import traceback

cmd_in = os.fdopen(3, "r", encoding="utf-8", errors="replace", newline="\n")
dbg_out = os.fdopen(4, "w", encoding="utf-8", errors="backslashreplace", buffering=1)
events = os.fdopen(5, "w", encoding="utf-8", buffering=1)


class _Commands:
    """pdb's stdin: announces READY, then reads one command line from the host."""

    def readline(self) -> str:
        dbg_out.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        events.write("READY\n")
        events.flush()
        line = cmd_in.readline()
        if not line:  # the host went away
            os._exit(0)
        return line


workdir, mode, target, *args = sys.argv[1:]
sys.path[0] = workdir
os.chdir(workdir)
debugger = pdb.Pdb(stdin=_Commands(), stdout=dbg_out, nosigint=False, readrc=False)
debugger.prompt = ""


def _purge_modules() -> None:
    """Forget modules loaded from the work dir, so an edited file is imported afresh."""
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None) or ""
        if f.startswith(workdir + os.sep):
            del sys.modules[name]


def _run_once() -> None:
    _purge_modules()
    if mode == "script":
        path = os.path.join(workdir, target)
        sys.argv = [path, *args]
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        glb = {"__name__": "__main__", "__file__": path, "__builtins__": builtins}
        debugger.run(code, glb)
    else:
        file, _, func = target.partition("::")
        path = os.path.join(workdir, file)
        spec = importlib.util.spec_from_file_location(os.path.splitext(file)[0], path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        sys.argv = [path]
        debugger.runcall(getattr(mod, func))


while True:
    code = 0
    try:
        _run_once()
    except pdb.Restart:
        dbg_out.write("Restarting the program\n")
        events.write("RESTARTED\n")
        continue
    except bdb.BdbQuit:
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        code = 1
        exc_type, exc, tb = sys.exc_info()
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        sys.stderr.flush()
        dbg_out.write(
            "Uncaught exception. Entering post mortem debugging\n"
            "Running 'cont' or 'step' will restart the program\n"
        )
        try:
            debugger.reset()
            debugger.interaction(None, tb)
        except pdb.Restart:
            dbg_out.write("Restarting the program\n")
            events.write("RESTARTED\n")
            continue
        except bdb.BdbQuit:
            pass
        del exc, tb
    sys.settrace(None)
    dbg_out.write("The program finished and will be restarted\n")
    dbg_out.flush()
    events.write(f"EXITED {code}\n")
    events.flush()
