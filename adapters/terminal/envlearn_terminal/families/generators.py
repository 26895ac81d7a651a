"""Procedural terminal task families: each draws names, contents, values and wording from a seed.

A generator is a function ``(rng) -> Generated``: the instruction, ``setup.sh``, ``verify.sh``
(with the expected answer baked in; partial credit where natural, as a last line
``reward: X``) and the oracle ``solution.sh``, all from the same :class:`random.Random`, so the
verifier and the oracle always agree with the files the setup writes.  Solutions are short
one-liners of standard tools (the shipped tiny model learns them by SFT); the answers are never
in the instruction, only the names the command needs.
"""

from __future__ import annotations

import json
import random
import shlex
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FAMILIES", "Family", "Generated"]


@dataclass(frozen=True)
class Generated:
    """One generated task: the instruction and the three scripts of a task directory."""

    instruction: str
    setup: str
    verify: str
    solution: str


@dataclass(frozen=True)
class Family:
    """A task family: its name, the bundled suite's category, and its generator."""

    name: str
    category: str
    generate: Callable[[random.Random], Generated]


WORDS = (
    "alpha bravo cedar delta ember falcon garnet harbor indigo juniper kestrel lumen maple "
    "nectar orbit pepper quartz raven saffron tundra umber violet willow yonder zephyr"
).split()
NAMES = "ada bob cleo dan eve finn gus hana ivan jade kai lena".split()
FILE_STEMS = "notes data report items records inventory ledger stock events people".split()
LEVELS = ("INFO", "WARN", "ERROR", "DEBUG")


def _heredoc(path: str, text: str) -> str:
    """A bash line writing ``text`` to ``path`` exactly (quoted heredoc, no expansion)."""
    tag = "EOF_ENVLEARN"
    assert tag not in text
    body = text if text.endswith("\n") else text + "\n"
    return f"cat > {shlex.quote(path)} <<'{tag}'\n{body}{tag}\n"


def _setup(*lines: str) -> str:
    return "#!/bin/bash\nset -euo pipefail\n" + "".join(lines)


def _py_verify(body: str, **consts: object) -> str:
    """A verify.sh running ``body`` in python3 (cwd /work) with ``consts`` bound as JSON."""
    head = "".join(f"{k} = json.loads({json.dumps(json.dumps(v))})\n" for k, v in consts.items())
    return (
        "#!/bin/bash\ncd /work || exit 1\nexec python3 - <<'PY_ENVLEARN'\n"
        "import json, os, sys\n"
        "def read(p):\n"
        "    try:\n"
        "        with open(p, encoding='utf-8', errors='replace') as f:\n"
        "            return f.read()\n"
        "    except OSError:\n"
        "        return None\n"
        "def lines(p):\n"
        "    t = read(p)\n"
        "    return None if t is None else [x.rstrip() for x in t.splitlines() if x.strip()]\n"
        f"{head}{body}\nPY_ENVLEARN\n"
    )


def _pick(rng: random.Random, options: list[str] | tuple[str, ...], k: int) -> list[str]:
    return rng.sample(list(options), k)


# -- families ---------------------------------------------------------------------------------


def count_lines(rng: random.Random) -> Generated:
    """Count the lines of a log holding a word."""
    stem = rng.choice(["app", "server", "worker", "cron", "api"])
    word = rng.choice(LEVELS)
    n = rng.randint(8, 20)
    rows = [
        f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)} {rng.choice(LEVELS)} "
        f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
        for _ in range(n)
    ]
    count = sum(word in r.split() for r in rows)
    out = "count.txt"
    instr = rng.choice(
        [
            f"Count the lines of /work/{stem}.log that contain {word} and write the number to "
            f"/work/{out}.",
            f"How many lines in /work/{stem}.log contain the word {word}? Put the number in "
            f"/work/{out}.",
        ]
    )
    verify = _py_verify(
        f"t = (read({out!r}) or '').strip()\n"
        "print(f'got {t!r}'); print('reward: 1' if t == str(N) else 'reward: 0')",
        N=count,
    )
    return Generated(
        instr,
        _setup(_heredoc(f"{stem}.log", "\n".join(rows))),
        verify,
        f"grep -c {word} {stem}.log > {out}\n",
    )


def csv_column(rng: random.Random) -> Generated:
    """Extract one column of a CSV (without its header)."""
    cols = _pick(rng, ["name", "city", "price", "qty", "code", "color", "size"], 4)
    k = rng.randint(1, 4)
    stem = rng.choice(FILE_STEMS)
    rows = [
        [
            rng.choice(WORDS) if c in ("name", "city", "code", "color") else str(rng.randint(1, 99))
            for c in cols
        ]
        for _ in range(rng.randint(4, 9))
    ]
    text = ",".join(cols) + "\n" + "\n".join(",".join(r) for r in rows)
    want = [r[k - 1] for r in rows]
    out = f"{cols[k - 1]}.txt"
    instr = rng.choice(
        [
            f"Write column {k} ({cols[k - 1]}) of /work/{stem}.csv, without the header line, "
            f"to /work/{out}.",
            f"/work/{stem}.csv has a header line. Save the values of column {k} "
            f"({cols[k - 1]}) to /work/{out}, one per line, no header.",
        ]
    )
    verify = _py_verify(
        f"got = lines({out!r})\n"
        "if got is None: print('reward: 0'); sys.exit(0)\n"
        "hit = sum(a == b for a, b in zip(got, W))\n"
        "print(f'reward: {hit / max(len(W), len(got)):.4f}')",
        W=want,
    )
    return Generated(
        instr,
        _setup(_heredoc(f"{stem}.csv", text)),
        verify,
        f"cut -d, -f{k} {stem}.csv | tail -n +2 > {out}\n",
    )


def find_files(rng: random.Random) -> Generated:
    """List the files with one extension in a small tree."""
    exts = _pick(rng, ["log", "md", "py", "cfg", "csv", "ini"], 3)  # not .txt: found.txt
    ext = exts[0]
    dirs = _pick(rng, ["src", "docs", "lib", "tmp", "conf", "data"], 3)
    files = sorted(
        {f"{rng.choice(dirs)}/{rng.choice(WORDS)}.{rng.choice(exts)}" for _ in range(10)}
        | {f"{rng.choice(dirs)}/{rng.choice(WORDS)}.{ext}"}
    )
    want = sorted(f for f in files if f.endswith("." + ext))
    lines = [f"mkdir -p {' '.join(dirs)}\n"] + [f"echo {f} > {f}\n" for f in files]
    instr = rng.choice(
        [
            f"Find every .{ext} file under /work and write their paths, sorted, to "
            "/work/found.txt.",
            f"List all files ending in .{ext} below /work, one path per line, sorted, in "
            "/work/found.txt.",
        ]
    )
    verify = _py_verify(
        "got = lines('found.txt')\n"
        "if got is None: print('reward: 0'); sys.exit(0)\n"
        "got = [g[len('/work/'):] if g.startswith('/work/') else g for g in got]\n"
        "got = [g[2:] if g.startswith('./') else g for g in got]\n"
        "exp, g = set(W), set(got)\n"
        "r = len(exp & g) / len(exp | g)\n"
        "print(f'reward: {r:.4f}')",
        W=want,
    )
    return Generated(instr, _setup(*lines), verify, f"find . -name '*.{ext}' | sort > found.txt\n")


def fix_script(rng: random.Random) -> Generated:
    """A script ends with a stray ``exit N``: remove it so it succeeds."""
    name = rng.choice(["build", "deploy", "check", "run", "start"]) + ".sh"
    code = rng.randint(2, 9)
    msg = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
    script = f"#!/bin/bash\necho {msg}\nexit {code}\n"
    instr = rng.choice(
        [
            f"/work/{name} fails because of its line `exit {code}`. Delete that line so the "
            "script succeeds.",
            f"Make /work/{name} exit with status 0 by removing the line `exit {code}`.",
        ]
    )
    verify = (
        "#!/bin/bash\ncd /work || exit 1\n"
        f"out=$(bash {name} 2>&1); rc=$?\n"
        f'[ "$rc" = 0 ] || {{ echo "exit status $rc"; echo "reward: 0"; exit 0; }}\n'
        f'[ "$out" = {shlex.quote(msg)} ] || {{ echo "output $out"; echo "reward: 0.5"; exit 0; }}\n'
        'echo "reward: 1"\n'
    )
    return Generated(
        instr, _setup(_heredoc(name, script)), verify, f"sed -i '/^exit {code}$/d' {name}\n"
    )


def archive_files(rng: random.Random) -> Generated:
    """Pack the files with one extension into a .tar.gz."""
    ext, other = _pick(rng, ["txt", "log", "md", "csv"], 2)
    files = sorted({f"{w}.{ext}" for w in _pick(rng, WORDS, rng.randint(2, 5))})
    others = sorted({f"{w}.{other}" for w in _pick(rng, WORDS, 2)} - set(files))
    arc = rng.choice(["backup", "bundle", "pack", "archive"]) + ".tar.gz"
    lines = [f"echo {f} > {f}\n" for f in files + others]
    instr = rng.choice(
        [
            f"Create /work/{arc} holding all the .{ext} files of /work (and nothing else).",
            f"Archive every .{ext} file in /work into a gzipped tarball /work/{arc}.",
        ]
    )
    verify = _py_verify(
        "import tarfile\n"
        f"try:\n    with tarfile.open({arc!r}, 'r:gz') as t:\n"
        "        names = [n[2:] if n.startswith('./') else n for n in t.getnames()]\n"
        "except Exception as e:\n    print(e); print('reward: 0'); sys.exit(0)\n"
        "exp, g = set(W), set(n for n in names if n)\n"
        "print(f'reward: {len(exp & g) / len(exp | g):.4f}')",
        W=files,
    )
    return Generated(instr, _setup(*lines), verify, f"tar czf {arc} *.{ext}\n")


def git_commit(rng: random.Random) -> Generated:
    """Commit a modified file with a given message."""
    repo = rng.choice(["app", "site", "tool", "lib"])
    fname = rng.choice(FILE_STEMS) + ".txt"
    msg = f"{rng.choice(['Update', 'Fix', 'Add'])} {rng.choice(WORDS)}"
    lines = [
        f"mkdir {repo} && cd {repo}\n",
        "git init -q -b main\ngit config user.name Dev\ngit config user.email dev@example.com\n",
        f"echo {rng.choice(WORDS)} > {fname}\n",
        "git add -A && git commit -q -m init\n",
        f"echo {rng.choice(WORDS)} >> {fname}\n",
    ]
    instr = rng.choice(
        [
            f"In the git repository /work/{repo}, commit the change to {fname} with the message "
            f'"{msg}".',
            f'/work/{repo} has an uncommitted change in {fname}. Commit it with message "{msg}".',
        ]
    )
    verify = (
        f"#!/bin/bash\ncd /work/{repo} || {{ echo 'reward: 0'; exit 0; }}\n"
        "g() { git -c safe.directory='*' \"$@\"; }\n"
        "r=0\n"
        f'[ "$(g log -1 --format=%s)" = {shlex.quote(msg)} ] && r=$((r+1))\n'
        '[ -z "$(g status --porcelain)" ] && r=$((r+1))\n'
        '[ "$(g rev-list --count HEAD)" = 2 ] && r=$((r+1))\n'
        'case $r in 3) echo "reward: 1";; 2) echo "reward: 0.67";; 1) echo "reward: 0.33";; '
        '*) echo "reward: 0";; esac\n'
    )
    return Generated(
        instr,
        _setup(*lines),
        verify,
        f'cd {repo} && git commit -qam "{msg}"\n',
    )


def sort_uniq(rng: random.Random) -> Generated:
    """Sorted distinct lines of a file."""
    stem = rng.choice(FILE_STEMS)
    pool = _pick(rng, WORDS, rng.randint(4, 8))
    rows = [rng.choice(pool) for _ in range(rng.randint(8, 16))]
    rows += [pool[0]]  # at least one duplicate
    want = sorted(set(rows))
    out = rng.choice(["unique.txt", "distinct.txt", "sorted.txt"])
    instr = rng.choice(
        [
            f"Write the distinct lines of /work/{stem}.txt, sorted, to /work/{out}.",
            f"/work/{stem}.txt has repeated lines. Save each line once, in sorted order, to "
            f"/work/{out}.",
        ]
    )
    verify = _py_verify(
        f"got = lines({out!r})\n"
        "if got is None: print('reward: 0'); sys.exit(0)\n"
        "if got == W: print('reward: 1'); sys.exit(0)\n"
        "print('reward: 0.5' if sorted(set(got)) == W else 'reward: 0')",
        W=want,
    )
    return Generated(
        instr,
        _setup(_heredoc(f"{stem}.txt", "\n".join(rows))),
        verify,
        f"sort -u {stem}.txt > {out}\n",
    )


def sed_replace(rng: random.Random) -> Generated:
    """Replace every occurrence of a word in a file, in place."""
    stem = rng.choice(["config", "settings", "hosts", "app"]) + ".ini"
    old, new = _pick(rng, WORDS, 2)
    others = [w for w in WORDS if w not in (old, new)]
    rows = []
    for i in range(rng.randint(4, 8)):
        v = old if i % 2 == 0 else rng.choice(others)
        rows.append(f"{rng.choice(others)}_{i} = {v}")
    want = [r.replace(old, new) for r in rows]
    instr = rng.choice(
        [
            f"In /work/{stem}, replace every {old} with {new}.",
            f"Edit /work/{stem} in place so that each occurrence of {old} becomes {new}.",
        ]
    )
    verify = _py_verify(
        f"got = lines({stem!r}) or []\n"
        "hit = sum(a == b for a, b in zip(got, W))\n"
        "print(f'reward: {hit / max(len(W), len(got)):.4f}')",
        W=want,
    )
    return Generated(
        instr, _setup(_heredoc(stem, "\n".join(rows))), verify, f"sed -i 's/{old}/{new}/g' {stem}\n"
    )


def json_field(rng: random.Random) -> Generated:
    """Read one field of a JSON object."""
    stem = rng.choice(["package", "meta", "service", "user"]) + ".json"
    keys = _pick(rng, ["name", "version", "owner", "port", "region", "tier"], 4)
    obj = {k: (rng.randint(1, 9999) if k == "port" else rng.choice(WORDS)) for k in keys}
    key = rng.choice(keys)
    instr = rng.choice(
        [
            f"Write the value of the field {key} of /work/{stem} to /work/value.txt.",
            f'/work/{stem} is a JSON object. Save its "{key}" value in /work/value.txt.',
        ]
    )
    verify = _py_verify(
        "t = (read('value.txt') or '').strip().strip('\"')\n"
        "print(f'got {t!r}'); print('reward: 1' if t == str(V) else 'reward: 0')",
        V=obj[key],
    )
    sol = f"python3 -c \"import json; print(json.load(open('{stem}'))['{key}'])\" > value.txt\n"
    return Generated(instr, _setup(_heredoc(stem, json.dumps(obj, indent=1))), verify, sol)


def env_var(rng: random.Random) -> Generated:
    """Run a script with an environment variable set; save its output."""
    var = rng.choice(["USER_NAME", "TARGET", "MODE", "COLOR", "REGION"])
    val = rng.choice(WORDS)
    script = rng.choice(["greet.sh", "show.sh", "hello.sh"])
    body = f'#!/bin/bash\necho "value=${{{var}:-unset}}"\n'
    instr = rng.choice(
        [
            f"Run /work/{script} with the environment variable {var} set to {val} and save its "
            "output to /work/out.txt.",
            f"Save the output of /work/{script}, run with {var}={val} in its environment, to "
            "/work/out.txt.",
        ]
    )
    verify = _py_verify(
        "t = (read('out.txt') or '').strip()\n"
        "print(f'got {t!r}'); print('reward: 1' if t == 'value=' + V else 'reward: 0')",
        V=val,
    )
    return Generated(
        instr, _setup(_heredoc(script, body)), verify, f"{var}={val} bash {script} > out.txt\n"
    )


def permissions(rng: random.Random) -> Generated:
    """Set a file's mode."""
    f = rng.choice(FILE_STEMS) + rng.choice([".sh", ".txt", ".key"])
    mode = rng.choice(["755", "700", "644", "600", "750", "640"])
    instr = rng.choice(
        [
            f"Set the permissions of /work/{f} to {mode}.",
            f"Change the mode of /work/{f} to {mode} (octal).",
        ]
    )
    verify = (
        "#!/bin/bash\ncd /work || exit 1\n"
        f'm=$(stat -c %a {f} 2>/dev/null); echo "mode $m"\n'
        f'[ "$m" = {mode} ] && echo "reward: 1" || echo "reward: 0"\n'
    )
    return Generated(
        instr, _setup(f"echo data > {f}\nchmod 666 {f}\n"), verify, f"chmod {mode} {f}\n"
    )


def word_freq(rng: random.Random) -> Generated:
    """The most frequent word of a text."""
    stem = rng.choice(["story", "speech", "essay", "poem"])
    pool = _pick(rng, WORDS, 5)
    counts = dict(zip(pool, rng.sample(range(1, 9), 5), strict=True))
    words = [w for w, c in counts.items() for _ in range(c)]
    rng.shuffle(words)
    text = "\n".join(" ".join(words[i : i + 6]) for i in range(0, len(words), 6))
    top = max(counts, key=lambda w: counts[w])
    instr = rng.choice(
        [
            f"Write the most frequent word of /work/{stem}.txt to /work/top.txt.",
            f"Which word occurs most often in /work/{stem}.txt? Write it to /work/top.txt.",
        ]
    )
    verify = _py_verify(
        "t = (read('top.txt') or '').strip()\n"
        "print(f'got {t!r}'); print('reward: 1' if t == V else 'reward: 0')",
        V=top,
    )
    sol = (
        f"tr ' ' '\\n' < {stem}.txt | sort | uniq -c | sort -rn | head -1 | "
        "awk '{print $2}' > top.txt\n"
    )
    return Generated(instr, _setup(_heredoc(f"{stem}.txt", text)), verify, sol)


def line_range(rng: random.Random) -> Generated:
    """Lines A..B of a file."""
    stem = rng.choice(FILE_STEMS)
    rows = [f"{i + 1} {rng.choice(WORDS)}" for i in range(rng.randint(8, 14))]
    a = rng.randint(2, 4)
    b = a + rng.randint(1, 3)
    out = "part.txt"
    instr = rng.choice(
        [
            f"Write lines {a} to {b} of /work/{stem}.txt to /work/{out}.",
            f"Copy lines {a} through {b} (inclusive) of /work/{stem}.txt into /work/{out}.",
        ]
    )
    verify = _py_verify(
        f"got = lines({out!r})\n"
        "if got is None: print('reward: 0'); sys.exit(0)\n"
        "hit = sum(x == y for x, y in zip(got, W))\n"
        "print(f'reward: {hit / max(len(W), len(got)):.4f}')",
        W=rows[a - 1 : b],
    )
    return Generated(
        instr,
        _setup(_heredoc(f"{stem}.txt", "\n".join(rows))),
        verify,
        f"sed -n '{a},{b}p' {stem}.txt > {out}\n",
    )


def move_files(rng: random.Random) -> Generated:
    """Move the files with one extension into a directory."""
    ext, other = _pick(rng, ["txt", "log", "md", "csv", "jpg"], 2)
    files = sorted(f"{w}.{ext}" for w in _pick(rng, WORDS, rng.randint(2, 5)))
    others = sorted(f"{w}.{other}" for w in _pick(rng, WORDS, 2))
    d = rng.choice(["archive", "old", "done", "sorted"])
    lines = [f"echo {f} > {f}\n" for f in sorted(set(files + others))]
    instr = rng.choice(
        [
            f"Move every .{ext} file of /work into a new directory /work/{d}.",
            f"Create the directory /work/{d} and move all the .{ext} files of /work into it.",
        ]
    )
    verify = _py_verify(
        "moved = sum(os.path.isfile(os.path.join(D, f)) and not os.path.exists(f) for f in W)\n"
        "kept = all(os.path.isfile(f) for f in O if f not in W)\n"
        "print(f'reward: {moved / len(W) if kept else 0:.4f}')",
        W=files,
        O=others,
        D=d,
    )
    return Generated(instr, _setup(*lines), verify, f"mkdir -p {d} && mv *.{ext} {d}/\n")


def line_count(rng: random.Random) -> Generated:
    """The number of lines of a file."""
    stem = rng.choice(FILE_STEMS)
    n = rng.randint(3, 25)
    rows = [f"{rng.choice(NAMES)} {rng.choice(WORDS)}" for _ in range(n)]
    out = "lines.txt"
    instr = rng.choice(
        [
            f"Write the number of lines of /work/{stem}.txt to /work/{out}.",
            f"How many lines does /work/{stem}.txt have? Put the number in /work/{out}.",
        ]
    )
    verify = _py_verify(
        f"t = (read({out!r}) or '').strip()\n"
        "print(f'got {t!r}'); print('reward: 1' if t == str(N) else 'reward: 0')",
        N=n,
    )
    return Generated(
        instr,
        _setup(_heredoc(f"{stem}.txt", "\n".join(rows))),
        verify,
        f"wc -l < {stem}.txt > {out}\n",
    )


#: Every family, in a fixed order (suites and seeds depend on it: append, don't reorder).
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("count-lines", "text", count_lines),
        Family("csv-column", "text", csv_column),
        Family("find-files", "filesystem", find_files),
        Family("fix-script", "processes", fix_script),
        Family("archive-files", "archives", archive_files),
        Family("git-commit", "git", git_commit),
        Family("sort-uniq", "text", sort_uniq),
        Family("sed-replace", "text", sed_replace),
        Family("json-field", "python", json_field),
        Family("env-var", "env", env_var),
        Family("permissions", "filesystem", permissions),
        Family("word-freq", "text", word_freq),
        Family("line-range", "text", line_range),
        Family("move-files", "filesystem", move_files),
        Family("line-count", "text", line_count),
    )
}
