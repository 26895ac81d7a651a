"""``browser``: the model operates a web page in headless Chromium, a few actions per turn.

Each episode starts the task's site on its own local server (``127.0.0.1``, a free port) and
opens a fresh browser context (its own cookies, storage and cache) in the run's one Chromium
(:func:`envlearn_browser.engine.shared_engine`).  Every request outside the site's own origin is
aborted, downloads are refused, popups and new tabs are closed, dialogs are answered (and shown).

Observation channels, in order: ``instruction`` (MiniWoB++ tasks, first observation only),
``url`` (the path on the site), ``title``, ``dialog`` (alert/confirm/prompt texts), ``console``
(page errors and console errors), ``page`` (the visible page as a compact tree with element ids,
see :mod:`envlearn_browser.snapshot`).  What the harness adds (action problems, element not
found, navigation blocked, action timed out, page cut) is a ``notice``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, ClassVar
from urllib.parse import urljoin

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
from envlearn_browser.actions import BrowserCall, parse_reply
from envlearn_browser.engine import BrowserEngine, shared_engine
from envlearn_browser.miniwob_suite import miniwob_html_dir
from envlearn_browser.server import SiteServer
from envlearn_browser.snapshot import ID_ATTR, SETTLE_INIT, SNAPSHOT_JS

__all__ = ["BrowserAdapter", "SYSTEM_PROMPT"]

SYSTEM_PROMPT = """\
You are using a web browser. After each of your replies you see the page's address (url), its \
title and its content as a list of elements, each with an id in brackets:

[4] textbox "Username" value=""
[6] button "Sign in"

Act with calls in a fenced code block tagged browser, one call per line (up to 8, run in order):

```browser
type(4, "alice")
click(6)
```

The calls: click(ID), type(ID, "text") (replaces the field's text), press("Enter") or \
press(ID, "Enter"), select(ID, "option text"), scroll(down) or scroll(up) (long pages are shown \
in parts), goto("/path") (pages of this site only), back(). Messages in brackets are from the \
harness. When the task is done, write the line TASK COMPLETE outside any code block (calls in \
the same reply run first).
"""

_MINIWOB_SKIP = "#reward-display, #sync-task-cover"  # MiniWoB's clock and score board

MAX_LINE_CHARS = 200
"""A text or name longer than this is cut (with an ellipsis) in the page tree."""
MAX_URL_CHARS = 300
"""A longer url (path and query) is cut, with a notice."""
MAX_TREE_LINES = 5000
"""The page tree stops after this many lines (a notice says how many more there were)."""


class BrowserAdapter(BaseAdapter):
    """One site (or MiniWoB++ page) and one browser context per episode."""

    name: ClassVar[str] = "browser"
    channels: ClassVar[tuple[ChannelSpec, ...]] = (
        ChannelSpec(name="instruction", description="MiniWoB++ instruction (first observation)"),
        ChannelSpec(name="url", description="the page's path on the task's site"),
        ChannelSpec(name="title", description="the page's title"),
        ChannelSpec(name="dialog", description="alert/confirm/prompt messages the page showed"),
        ChannelSpec(name="console", description="page errors and console errors"),
        ChannelSpec(name="page", description="the visible page: elements with ids"),
        ChannelSpec(
            name="notice",
            kind="notice",
            description="action problems, element not found, navigation blocked, timeouts, "
            "page cut",
        ),
    )
    deterministic: ClassVar[bool] = True

    def __init__(
        self,
        *,
        max_page_chars: int = 6000,
        action_timeout_s: float = 3.0,
        settle_timeout_s: float = 3.0,
        step_timeout_s: float = 30.0,
        max_console_lines: int = 10,
        chromium: str | None = None,
    ) -> None:
        for opt, value in [
            ("max_page_chars", max_page_chars),
            ("action_timeout_s", action_timeout_s),
            ("settle_timeout_s", settle_timeout_s),
            ("step_timeout_s", step_timeout_s),
            ("max_console_lines", max_console_lines),
        ]:
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"browser adapter option {opt} must be a positive number, got {value!r}"
                )
        self.max_page_chars = int(max_page_chars)
        self.action_timeout_ms = float(action_timeout_s) * 1000
        self.settle_timeout_ms = float(settle_timeout_s) * 1000
        self.step_timeout_s = float(step_timeout_s)
        self.max_console_lines = int(max_console_lines)
        self.chromium = chromium
        self._engine: BrowserEngine | None = None
        self._server: SiteServer | None = None
        self._context: Any = None
        self._page: Any = None
        self._task: Task | None = None
        self._turns = 0
        self._done = False
        self._view = 0  # first snapshot line shown (scroll moves it)
        self._events: list[tuple[str, str]] = []  # (channel or "notice", text) from callbacks
        self._blocked: list[str] = []
        self._miniwob: dict[str, Any] = {}
        self.closed = False

    # ------------------------------------------------------------------ lifecycle

    def system_prompt(self, task: Task) -> str:
        """How to read the page and write actions."""
        return SYSTEM_PROMPT

    def reset(self, task: Task, *, seed: int | None = None) -> Observation:
        """Start the task's site and a fresh browser context; show the first page."""
        if self.closed:
            raise RuntimeError("browser adapter is closed; make a new one")
        kind = task.data.get("kind")
        if kind not in ("site", "miniwob"):
            raise ValueError(
                f"task {task.id}: data['kind'] is {kind!r}; set it to 'site' or 'miniwob'"
            )
        if kind == "site":
            from envlearn_browser.sites import make_site

            site = make_site(task)  # raises a clear ValueError for a bad task
        self._end_episode()
        self._task = task
        self._turns = 0
        self._done = False
        self._view = 0
        self._events = []
        self._blocked = []
        self._miniwob = {}
        self._engine = shared_engine(self.chromium)  # BrowserUnavailable: the rollout fails
        if kind == "site":
            self._server = SiteServer(site)
        else:
            self._server = SiteServer(static_root=miniwob_html_dir())
        origin = self._server.origin
        try:
            self._engine.run(self._open(origin), 30.0, what="opening a browser context")
            if kind == "site":
                start = str(task.data.get("start", "/"))
                parts = self._engine.run(
                    self._goto_first(origin + start), self.step_timeout_s, what="the first page"
                )
            else:
                parts = self._engine.run(
                    self._start_miniwob(task, seed), self.step_timeout_s, what="starting MiniWoB"
                )
        except Exception as e:  # the browser failed us (hung, crashed): the rollout fails
            self._end_episode()
            if isinstance(e, EpisodeError):
                raise
            raise EpisodeError(f"task {task.id}: {type(e).__name__}: {e}") from e
        return Observation(parts=parts, info={"origin": origin})

    def step(self, action_text: str) -> Observation:
        """Run the reply's calls, then show the page; never raises on bad model text."""
        if self.closed:
            raise RuntimeError("browser adapter is closed; make a new one")
        if self._task is None or self._engine is None:
            raise RuntimeError("step() before reset(): call reset(task) first")
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset(task) for a new one")
        self._turns += 1
        reply = parse_reply(action_text)
        info: dict[str, Any] = {"turn": self._turns, "calls": [str(c) for c in reply.calls]}
        before: list[Part] = []
        parts: list[Part] = []
        if reply.calls:
            try:
                parts = self._engine.run(
                    self._act(reply.calls, reply.problem, reply.dropped),
                    self.step_timeout_s,
                    what="the step",
                )
            except TimeoutError as e:
                raise EpisodeError(f"task {self._task.id}: the browser hung: {e}") from e
            except EpisodeError:
                raise
            except Exception as e:  # noqa: BLE001 - model mistakes are notices, caught inside
                raise EpisodeError(f"task {self._task.id}: {type(e).__name__}: {e}") from e
        elif reply.problem is not None:
            before.append(notice(f"[{reply.problem}]\n"))
            info["invalid"] = True
        done = reply.complete
        if self._miniwob.get("done"):
            done = True
        if done and reply.complete:
            parts.append(notice("[TASK COMPLETE: episode over]\n"))
            info["complete"] = True
        elif done:
            parts.append(notice("[the MiniWoB++ episode is over]\n"))
        elif self._turns >= self._task.max_turns:
            done = True
            parts.append(notice(f"[turn limit ({self._task.max_turns}) reached: episode over]\n"))
        self._done = done
        if self._miniwob:
            info["miniwob"] = dict(self._miniwob)
        return Observation(parts=before + parts, done=done, info=info)

    def score(self) -> float:
        """Site tasks: the verifier on the server's state.  MiniWoB++: its own raw reward
        (1 solved, partial credit where the task gives it, failures -1 → 0)."""
        if self._task is None:
            raise RuntimeError("score() before reset(): call reset(task) first")
        if self._task.data.get("kind") == "miniwob":
            raw = float(self._miniwob.get("raw_reward", 0.0) or 0.0)
            return min(1.0, max(0.0, raw)) if self._miniwob.get("done") else 0.0
        assert self._server is not None and self._server.site is not None
        with self._server.lock:
            return self._server.site.verify(
                str(self._task.data.get("verifier", "")), self._task.data.get("expect", {})
            )

    def close(self) -> None:
        """Close the episode's context and stop its server (the run's browser stays for other
        episodes; it closes when the run ends).  Idempotent."""
        self._end_episode(keep_server=True)
        if self._server is not None:
            self._server.stop()
        self.closed = True

    # ------------------------------------------------------------------ for tests and tools

    @property
    def origin(self) -> str | None:
        """The episode's ``http://127.0.0.1:PORT``."""
        return self._server.origin if self._server else None

    @property
    def site(self) -> Any:
        """The episode's site (its state is what the verifier reads), or None."""
        return self._server.site if self._server else None

    def evaluate(self, script: str, arg: Any = None) -> Any:
        """Evaluate JavaScript in the page (tests, scripted solvers)."""
        assert self._engine is not None and self._page is not None
        return self._engine.run(self._page.evaluate(script, arg), 10.0, what="evaluate")

    # ------------------------------------------------------------------ internals

    def _end_episode(self, keep_server: bool = False) -> None:
        ctx, self._context, self._page = self._context, None, None
        if ctx is not None and self._engine is not None and not self._engine.closed:
            try:
                self._engine.run(ctx.close(), 10.0, what="closing the context")
            except Exception:  # noqa: BLE001 - a dead browser has no context left to close
                pass
        if self._server is not None and not keep_server:
            self._server.stop()
            self._server = None

    async def _open(self, origin: str) -> None:
        assert self._engine is not None
        ctx = await self._engine.browser.new_context(
            viewport={"width": 1000, "height": 800},
            accept_downloads=False,
            service_workers="block",
            locale="en-US",
            timezone_id="UTC",
        )
        self._context = ctx
        await ctx.add_init_script(SETTLE_INIT)

        async def route(r: Any) -> None:
            url = r.request.url
            if url == origin or url.startswith(origin + "/"):
                await r.continue_()
                return
            self._blocked.append(url)
            await r.abort("blockedbyclient")

        await ctx.route("**/*", route)
        if hasattr(ctx, "route_web_socket"):

            async def ws(w: Any) -> None:
                if not (w.url.startswith(origin.replace("http", "ws", 1) + "/")):
                    self._blocked.append(w.url)
                    await w.close()
                else:
                    w.connect_to_server()

            await ctx.route_web_socket(re.compile(".*"), ws)
        page = await ctx.new_page()
        self._page = page

        def on_page(p: Any) -> None:
            if p is self._page:
                return
            self._events.append(("notice", "[a popup/new tab was opened and closed]\n"))
            asyncio.ensure_future(p.close())

        ctx.on("page", on_page)

        async def on_dialog(d: Any) -> None:
            self._events.append(("dialog", f"{d.type}: {_one_line(d.message)}"))
            try:
                if d.type == "prompt":
                    await d.accept(d.default_value)
                else:
                    await d.accept()
            except Exception:  # noqa: BLE001 - the page may be gone
                pass

        page.on("dialog", on_dialog)

        def on_console(m: Any) -> None:
            if m.type not in ("error", "warning"):
                return
            text = _one_line(m.text)
            # the harness's own blocking (already in a notice) is not the page talking
            if "ERR_BLOCKED_BY_CLIENT" in text or "WebSocket connection to" in text:
                return
            self._events.append(("console", f"{m.type}: {text}"))

        page.on("console", on_console)
        page.on("pageerror", lambda e: self._events.append(("console", f"error: {e.message}")))
        page.on(
            "download",
            lambda d: self._events.append(
                ("notice", "[download refused: files stay on the site]\n")
            ),
        )

    async def _goto_first(self, url: str) -> list[Part]:
        pre: list[Part] = []
        try:
            await self._page.goto(url, wait_until="load", timeout=self.action_timeout_ms * 3)
        except Exception as e:  # noqa: BLE001
            raise EpisodeError(f"the task's first page did not load: {e}") from e
        return await self._observe(pre)

    async def _start_miniwob(self, task: Task, seed: int | None) -> list[Part]:
        name = task.data["miniwob"]
        url = f"{self._server.origin}/miniwob/{name}.html"  # type: ignore[union-attr]
        await self._page.goto(url, wait_until="load", timeout=self.action_timeout_ms * 3)
        await self._page.wait_for_function(
            "() => typeof core !== 'undefined' && core.cover_div !== null && "
            "(typeof WOB_TASK_READY === 'undefined' || WOB_TASK_READY)",
            timeout=self.action_timeout_ms * 3,
        )
        the_seed = int(task.data.get("seed", 0)) + (int(seed) if seed is not None else 0)
        await self._page.evaluate(
            """([seed, mode]) => {
                core.EPISODE_MAX_TIME = 2147483000;
                Math.seedrandom(String(seed));
                core.setDataMode(mode);
                core.startEpisodeReal();
            }""",
            [the_seed, task.data.get("mode", "train")],
        )
        await self._settle([])
        # a few tasks return {utterance, fields} in train mode
        utterance = await self._page.evaluate(
            "() => { const u = core.getUtterance(); "
            "return typeof u === 'string' ? u : String((u && u.utterance) || ''); }"
        )
        await self._read_miniwob()
        parts = [content("instruction", f"instruction: {_one_line(utterance)}\n")]
        return parts + await self._observe([])

    async def _read_miniwob(self) -> None:
        if self._task is None or self._task.data.get("kind") != "miniwob":
            return
        try:
            # (not WOB_REWARD_GLOBAL: it is discounted by wall time, so runs would differ)
            done, raw, reason = await self._page.evaluate(
                "() => [WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL, WOB_REWARD_REASON]"
            )
        except Exception:  # noqa: BLE001 - the page navigated away from MiniWoB
            return
        self._miniwob = {"done": bool(done), "raw_reward": raw, "reason": reason}

    async def _act(
        self, calls: tuple[BrowserCall, ...], problem: str | None, dropped: int
    ) -> list[Part]:
        notes: list[Part] = []
        for call in calls:
            ok = await self._call(call, notes)
            if not ok:
                break
            await self._settle(notes)
        if problem is not None:
            notes.append(notice(f"[{problem}]\n"))
        if dropped:
            notes.append(notice(f"[only the first 8 calls ran; {dropped} more line(s) ignored]\n"))
        await self._read_miniwob()
        return await self._observe(notes)

    async def _call(self, call: BrowserCall, notes: list[Part]) -> bool:
        page = self._page
        timeout = self.action_timeout_ms
        loc = None
        if call.id is not None:
            loc = page.locator(f'[{ID_ATTR}="{call.id}"]')
            if await loc.count() == 0:
                notes.append(notice(f"[element {call.id} not found on this page: {call}]\n"))
                return False
            loc = loc.first
            if call.name != "press" and not await loc.is_visible():
                notes.append(notice(f"[element {call.id} is not visible on this page: {call}]\n"))
                return False
        before_url = page.url
        try:
            if call.name == "click":
                await loc.click(timeout=timeout)
            elif call.name == "type":
                await loc.fill(call.text or "", timeout=timeout)
            elif call.name == "select":
                options = await loc.evaluate(
                    "el => el.tagName === 'SELECT' ? Array.from(el.options).map("
                    "o => [o.label.replace(/\\s+/g, ' ').trim(), o.value]) : null"
                )
                if options is None:
                    notes.append(notice(f"[element {call.id} is not a drop-down: {call}]\n"))
                    return False
                labels = [label for label, _ in options]
                if call.text in labels:
                    await loc.select_option(label=call.text, timeout=timeout)
                elif call.text in [value for _, value in options]:
                    await loc.select_option(value=call.text, timeout=timeout)
                else:
                    shown = ", ".join(repr(x) for x in labels[:20])
                    notes.append(
                        notice(
                            f"[drop-down {call.id} has no option {call.text!r}; it has {shown}]\n"
                        )
                    )
                    return False
            elif call.name == "press":
                if loc is not None:
                    await loc.press(call.text or "", timeout=timeout)
                else:
                    await page.keyboard.press(call.text or "")
            elif call.name == "scroll":
                step = 1 if call.text == "down" else -1
                self._view = max(0, self._view + step * self._lines_per_view)
                await page.mouse.wheel(0, 600 * step)
            elif call.name == "goto":
                target = urljoin(self._server.origin + "/", call.text or "")  # type: ignore[union-attr]
                origin = self._server.origin  # type: ignore[union-attr]
                if not (target == origin or target.startswith(origin + "/")):
                    shown = call.text if len(call.text or "") < 80 else (call.text or "")[:80] + "…"
                    notes.append(
                        notice(f"[navigation blocked: {shown} is outside this task's site]\n")
                    )
                    return False
                await page.goto(target, wait_until="load", timeout=timeout * 3)
            elif call.name == "back":
                origin = self._server.origin  # type: ignore[union-attr]
                await page.go_back(wait_until="load", timeout=timeout * 3)
                if not page.url.startswith(origin):  # before the task's first page
                    await page.go_forward(wait_until="load", timeout=timeout * 3)
                    notes.append(notice("[back(): there is no earlier page on this site]\n"))
                    return False
        except Exception as e:  # noqa: BLE001 - Playwright errors are the model's observation
            if self._engine is None or not self._engine.connected:
                raise EpisodeError(f"the browser died during {call}: {e}") from e
            name = type(e).__name__
            msg = str(e).split("\n", 1)[0]
            if "Timeout" in name:
                notes.append(notice(f"[action timed out after {timeout / 1000:g} s: {call}]\n"))
            elif "ERR_BLOCKED_BY_CLIENT" in msg or "net::" in msg:
                notes.append(notice(f"[navigation blocked: {call}]\n"))
            elif "not a <select>" in msg or "Element is not" in msg:
                notes.append(notice(f"[element {call.id} does not support {call.name}: {call}]\n"))
            else:
                notes.append(notice(f"[{call} failed: {_one_line(msg)[:200]}]\n"))
            return False
        if page.url != before_url:
            self._view = 0
        return True

    @property
    def _lines_per_view(self) -> int:
        return max(5, self.max_page_chars // 60)

    async def _settle(self, notes: list[Part]) -> None:
        page = self._page
        try:
            await page.wait_for_load_state("load", timeout=self.settle_timeout_ms)
            await page.wait_for_function(
                "() => !window.__envlearnPending || window.__envlearnPending() === 0",
                timeout=self.settle_timeout_ms,
            )
        except Exception:  # noqa: BLE001 - a busy page is observed as it is
            notes.append(
                notice(f"[the page was still busy after {self.settle_timeout_ms / 1000:g} s]\n")
            )

    async def _observe(self, notes: list[Part]) -> list[Part]:
        """The page's parts, after the notices gathered so far."""
        page = self._page
        origin = self._server.origin  # type: ignore[union-attr]
        if not (page.url.startswith(origin + "/") or page.url == origin):
            # a blocked navigation left Chromium's error page: back to the site's last page
            notes.append(notice("[navigation blocked: that page is outside this task's site]\n"))
            try:
                await page.go_back(wait_until="load", timeout=self.action_timeout_ms)
            except Exception:  # noqa: BLE001 - the error page stays; its url says so
                pass
        blocked, self._blocked = self._blocked, []
        if blocked:
            shown = blocked[0] if len(blocked[0]) < 80 else blocked[0][:80] + "…"
            notes.append(
                notice(f"[blocked {len(blocked)} request(s) outside this site, e.g. {shown}]\n")
            )
        skip = _MINIWOB_SKIP if self._task and self._task.data.get("kind") == "miniwob" else ""
        args = [skip, ID_ATTR, MAX_LINE_CHARS, MAX_TREE_LINES]
        try:
            got = await page.evaluate(SNAPSHOT_JS, args)
        except Exception as e:  # noqa: BLE001 - navigating while we read: settle, read again
            if not self._engine or not self._engine.connected:
                raise EpisodeError(f"the browser died: {e}") from e
            await self._settle(notes)
            try:
                got = await page.evaluate(SNAPSHOT_JS, args)
            except Exception as e2:  # noqa: BLE001
                raise EpisodeError(f"reading the page failed: {e2}") from e2
        for url in got["popups"]:
            where = url.replace(origin, "") or "/"
            notes.append(
                notice(
                    f"[a popup/new tab for {where[:80]} was not opened; use goto() to go there]\n"
                )
            )
        events, self._events = self._events, []
        dialogs = [t for ch, t in events if ch == "dialog"]
        consoles = [t for ch, t in events if ch == "console"]
        notes.extend(notice(t) for ch, t in events if ch == "notice")
        path = (page.url[len(origin) :] if page.url.startswith(origin) else page.url) or "/"
        if len(path) > MAX_URL_CHARS:
            notes.append(
                notice(f"[url cut: {len(path)} characters, first {MAX_URL_CHARS} shown]\n")
            )
            path = path[:MAX_URL_CHARS]
        parts: list[Part] = [
            content("url", f"url: {path}\n"),
            content("title", f"title: {_one_line(got['title'])}\n"),
        ]
        for d in dialogs[: self.max_console_lines]:
            parts.append(content("dialog", f"dialog: {d.replace(origin, '')}\n"))
        for c in consoles[: self.max_console_lines]:
            parts.append(content("console", f"console: {c.replace(origin, '')[:300]}\n"))
        if len(consoles) > self.max_console_lines:
            extra = len(consoles) - self.max_console_lines
            parts.append(notice(f"[{extra} more console message(s) not shown]\n"))
        parts += self._page_parts(got["tree"], int(got["overflow"]))
        return notes + parts

    def _page_parts(self, snap: str, overflow: int = 0) -> list[Part]:
        lines = snap.split("\n") if snap else []
        total = len(lines)
        self._view = min(self._view, max(0, total - 1))
        start = self._view
        shown: list[str] = []
        size = 0
        for line in lines[start:]:
            if size + len(line) + 1 > self.max_page_chars:
                if not shown:  # one giant line: cut it
                    shown.append(line[: self.max_page_chars - 1])
                break
            shown.append(line)
            size += len(line) + 1
        end = start + len(shown)
        parts = [content("page", "page:\n" + "".join(s + "\n" for s in shown))]
        if start > 0 or end < total:
            more = " scroll(down) shows more;" if end < total else ""
            less = " scroll(up) shows earlier lines;" if start > 0 else ""
            parts.append(
                notice(f"[page cut: lines {start + 1}-{end} of {total} shown;{more}{less}]\n")
            )
        if overflow:
            parts.append(notice(f"[the page has {overflow} more element(s) than can be shown]\n"))
        return parts


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text or "").strip()[:500]
