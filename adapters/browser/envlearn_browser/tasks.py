"""The ``browser`` task suite: 27 tasks on the bundled sites, 19 train and 8 heldout.

A task's ``data``: ``kind: site``, ``site`` (a name in :data:`envlearn_browser.sites.SITES`),
``setup`` (the site's starting state), ``start`` (the first page's path), ``verifier`` and
``expect`` (what the site's ``verify`` checks on its server-side state).  Each oracle is a list
of replies in the action language; the last one also says ``TASK COMPLETE``.
"""

from __future__ import annotations

from typing import Any, Literal

from envlearn.channels import Task

__all__ = ["browser_tasks"]

Split = Literal["train", "heldout"]


def _block(*calls: str) -> str:
    return "```browser\n" + "\n".join(calls) + "\n```"


def _task(
    tid: str,
    split: Split,
    site: str,
    instruction: str,
    oracle: list[list[str]],
    verifier: str,
    expect: dict[str, Any],
    *,
    start: str = "/",
    setup: dict[str, Any] | None = None,
) -> Task:
    replies = [_block(*calls) for calls in oracle]
    replies[-1] += "\nTASK COMPLETE"
    return Task(
        id=f"web-{tid}",
        adapter="browser",
        instruction=instruction,
        split=split,
        max_turns=max(6, 2 * len(replies)),
        oracle=replies,
        data={
            "kind": "site",
            "site": site,
            "setup": setup or {},
            "start": start,
            "verifier": verifier,
            "expect": expect,
        },
    )


def _login(user: str, pw: str) -> list[str]:
    return [f'type(1, "{user}")', f'type(2, "{pw}")', "click(3)"]


def browser_tasks() -> list[Task]:
    """Every bundled site task."""
    return [
        # ---- login
        _task(
            "login-alice",
            "train",
            "login",
            "Sign in to the site as alice (password: wonderland).",
            [_login("alice", "wonderland")],
            "logged_in",
            {"user": "alice"},
        ),
        _task(
            "login-retry",
            "train",
            "login",
            "Sign in as bob. His password is either builder or builder42; try builder first.",
            [_login("bob", "builder"), _login("bob", "builder42")],
            "logged_in",
            {"user": "bob"},
        ),
        _task(
            "login-change-email",
            "train",
            "login",
            "Sign in as bob (password: builder42) and change his email address to "
            "bob.builder@example.org in the account settings.",
            [
                _login("bob", "builder42"),
                ["click(20)"],
                ['type(30, "bob.builder@example.org")', "click(31)"],
            ],
            "email",
            {"user": "bob", "email": "bob.builder@example.org"},
        ),
        _task(
            "login-logout",
            "heldout",
            "login",
            "Sign in as carol (password: c0ralreef), then log out again.",
            [_login("carol", "c0ralreef"), ["click(21)"]],
            "logged_out",
            {"user": "carol"},
        ),
        # ---- forms with validation
        _task(
            "form-signup",
            "train",
            "forms",
            "Create an account for Ada Lovelace (email ada@example.com, age 36, country France), "
            "accepting the terms.",
            [
                ["click(1)"],
                [
                    'type(10, "Ada Lovelace")',
                    'type(11, "ada@example.com")',
                    'type(12, "36")',
                    'select(13, "France")',
                    "click(14)",
                    "click(15)",
                ],
            ],
            "signup",
            {
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "age": "36",
                "country": "France",
                "terms": "yes",
            },
        ),
        _task(
            "form-signup-kenya",
            "heldout",
            "forms",
            "Sign up Wangari Maathai (email wangari@example.org, age 64, from Kenya) and accept "
            "the terms. The form is at /signup.",
            [
                [
                    'type(10, "Wangari Maathai")',
                    'type(11, "wangari@example.org")',
                    'type(12, "64")',
                    'select(13, "Kenya")',
                    "click(14)",
                    "click(15)",
                ]
            ],
            "signup",
            {
                "name": "Wangari Maathai",
                "email": "wangari@example.org",
                "age": "64",
                "country": "Kenya",
                "terms": "yes",
            },
            start="/signup",
        ),
        _task(
            "form-contact",
            "train",
            "forms",
            "Send a bug report through the contact form saying: The search page crashes on "
            "empty queries.",
            [
                ["click(2)"],
                [
                    'select(20, "Bug report")',
                    'type(21, "The search page crashes on empty queries.")',
                    "click(22)",
                ],
            ],
            "contact",
            {"topic": "Bug report", "phrase": "search page crashes"},
        ),
        _task(
            "form-prefs",
            "train",
            "forms",
            "Subscribe to the Science and Travel newsletters, weekly.",
            [["click(3)"], ["click(30)", "click(32)", "click(41)", "click(45)"]],
            "prefs",
            {"topics": ["Science", "Travel"], "frequency": "weekly"},
        ),
        _task(
            "form-prefs-monthly",
            "heldout",
            "forms",
            "Set the newsletter preferences to Sports and Cooking, once a month.",
            [["click(3)"], ["click(31)", "click(33)", "click(42)", "click(45)"]],
            "prefs",
            {"topics": ["Cooking", "Sports"], "frequency": "monthly"},
        ),
        # ---- search, then click
        _task(
            "search-eruptions",
            "train",
            "search",
            "Search the notes for 'volcan' and open the article about famous volcanic eruptions.",
            [['type(1, "volcan")', "click(2)"], ["click(11)"]],
            "opened",
            {"query": "volcan", "slug": "volcano-2"},
        ),
        _task(
            "search-bees",
            "train",
            "search",
            "Search for 'bees' and open the article about keeping bees at home.",
            [['type(1, "bees")', 'press(1, "Enter")'], ["click(11)"]],
            "opened",
            {"query": "bees", "slug": "bees-2"},
        ),
        _task(
            "search-compass",
            "train",
            "search",
            "Find the note that mentions 'north' (search for it) and open it.",
            [['type(1, "north")', "click(2)"], ["click(10)"]],
            "opened",
            {"query": "north", "slug": "compass"},
        ),
        _task(
            "search-tides",
            "heldout",
            "search",
            "Search for 'tide' and open the article that explains tides.",
            [['type(1, "tide")', "click(2)"], ["click(10)"]],
            "opened",
            {"query": "tide", "slug": "tides"},
        ),
        # ---- tables, sorting, paging
        _task(
            "table-cheapest",
            "train",
            "table",
            "Sort the products by price, lowest first, and open the cheapest one.",
            [["click(11)"], ["click(20)"]],
            "opened_after_sort",
            {"sort": ["price", "asc"], "pid": "P03"},
        ),
        _task(
            "table-name-order",
            "train",
            "table",
            "Sort the products by name (A to Z) and open the last product on the first page.",
            [["click(10)"], ["click(25)"]],
            "opened_after_sort",
            {"sort": ["name", "asc"], "pid": "P05"},
        ),
        _task(
            "table-flag-two",
            "train",
            "table",
            "Flag the Paper shredder and the Bookshelf for reorder (each from its own page).",
            [
                ["click(31)"],
                ["click(21)"],
                ["click(40)"],
                ["click(41)", "click(31)"],
                ["click(24)"],
                ["click(40)"],
            ],
            "flagged",
            {"pids": ["P08", "P11"]},
        ),
        _task(
            "table-priciest",
            "heldout",
            "table",
            "Sort the products by price, highest first, and open the most expensive one.",
            [["click(11)"], ["click(11)"], ["click(20)"]],
            "opened_after_sort",
            {"sort": ["price", "desc"], "pid": "P02"},
        ),
        # ---- shop with a cart
        _task(
            "shop-add-two",
            "train",
            "shop",
            "Add one Cheddar cheese and one Green tea to the cart.",
            [["click(12)"], ["click(14)"]],
            "cart",
            {"items": {"cheese": 1, "tea": 1}},
        ),
        _task(
            "shop-quantity",
            "train",
            "shop",
            "Put 3 kg of apples and one sourdough bread in the cart (set the quantity in the "
            "cart page).",
            [["click(10)"], ["click(11)"], ["click(1)"], ['type(20, "3")', "click(3)"]],
            "cart",
            {"items": {"apple": 3, "bread": 1}},
        ),
        _task(
            "shop-checkout",
            "train",
            "shop",
            "Buy 2 litres of milk and check out as Ana Diaz, address 12 Harbour Road.",
            [
                ["click(13)"],
                ["click(13)"],
                ["click(1)"],
                ["click(4)"],
                ['type(50, "Ana Diaz")', 'type(51, "12 Harbour Road")', "click(52)"],
            ],
            "order",
            {"items": {"milk": 2}, "name": "Ana Diaz", "address": "12 Harbour Road"},
        ),
        _task(
            "shop-remove-checkout",
            "heldout",
            "shop",
            "Remove the green tea from the cart, keep the rest, and check out as Li Wei, "
            "8 Hill Street.",
            [
                ["click(1)"],
                ["click(34)"],
                ["click(4)"],
                ['type(50, "Li Wei")', 'type(51, "8 Hill Street")', "click(52)"],
            ],
            "order",
            {"items": {"apple": 2, "milk": 1}, "name": "Li Wei", "address": "8 Hill Street"},
            setup={"cart": {"apple": 2, "tea": 1, "milk": 1}},
        ),
        # ---- multi-page flow
        _task(
            "wizard-plus",
            "train",
            "wizard",
            "Book the Plus plan for 4 people on 2026-03-14 and confirm the booking.",
            [
                ["click(11)", "click(13)"],
                ['type(20, "2026-03-14")', 'type(21, "4")', "click(22)"],
                ["click(30)"],
            ],
            "booking",
            {"plan": "Plus", "date": "2026-03-14", "people": 4},
        ),
        _task(
            "wizard-family",
            "heldout",
            "wizard",
            "Book the Family plan for 6 people on 2026-07-01 and confirm it.",
            [
                ["click(12)", "click(13)"],
                ['type(20, "2026-07-01")', 'type(21, "6")', "click(22)"],
                ["click(30)"],
            ],
            "booking",
            {"plan": "Family", "date": "2026-07-01", "people": 6},
        ),
        # ---- dynamic content
        _task(
            "dynamic-load-more",
            "train",
            "dynamic",
            "In the catalog, pick Gadget J (more gadgets appear when you load more).",
            [["click(10)"], ["click(10)"], ["click(59)"]],
            "picked",
            {"item": "Gadget J"},
            start="/catalog",
        ),
        _task(
            "dynamic-vault",
            "train",
            "dynamic",
            "Open the vault: reveal the code, then enter it.",
            [["click(20)"], ['type(21, "K7Q2")', "click(22)"]],
            "answer",
            {"answer": "K7Q2"},
            start="/vault",
            setup={"code": "K7Q2"},
        ),
        _task(
            "dynamic-tabs",
            "train",
            "dynamic",
            "On the help page, find for how many days returns are accepted and submit that "
            "number as the answer.",
            [["click(41)"], ['type(45, "45")', "click(46)"]],
            "answer",
            {"answer": "45"},
            start="/help",
        ),
        _task(
            "dynamic-delete",
            "heldout",
            "dynamic",
            "Delete the file old-report.pdf (and nothing else).",
            [["click(32)"]],
            "deleted",
            {"files": ["old-report.pdf"]},
            start="/files",
        ),
    ]
