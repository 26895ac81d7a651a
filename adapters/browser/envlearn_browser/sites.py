"""The bundled web apps behind the ``browser`` suite: small sites with state kept in memory.

Each site serves plain HTML (forms posting back to the server, a little JavaScript where the
task is about dynamic content) and keeps what the user did in ``self.state``; the task's
verifier reads that state (never the page), with partial credit where a task has parts.

Elements a task acts on carry fixed ids (``data-envlearn-id`` below 100) so oracle action lists
can name them; everything else is numbered by the snapshot from 100 up.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import Any

from envlearn.channels import Task
from envlearn_browser.server import Request, Response, Site

__all__ = ["SITES", "make_site"]


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _i(n: int) -> str:
    return f' data-envlearn-id="{n}"'


def _page(title: str, body: str, script: str = "") -> Response:
    js = f"<script>{script}</script>" if script else ""
    return Response(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title></head><body>{body}{js}</body></html>"
    )


def _redirect(to: str) -> Response:
    return Response("", 303, "text/plain", {"Location": to})


def _not_found() -> Response:
    r = _page("Not found", "<h1>Not found</h1><p>There is no such page.</p>")
    r.status = 404
    return r


def _frac(parts: list[bool]) -> float:
    return sum(parts) / len(parts) if parts else 0.0


# ------------------------------------------------------------------ login + account


USERS = {"alice": "wonderland", "bob": "builder42", "carol": "c0ralreef"}


class LoginSite(Site):
    """A login form with error messages, an account page and a settings form."""

    name = "login"

    def __init__(self, setup: dict[str, Any]) -> None:
        super().__init__(setup)
        self.state: dict[str, Any] = {"user": None, "failed": 0, "email": {}, "logins": []}

    def handle(self, req: Request) -> Response:
        st = self.state
        if req.path in ("/", "/login") and req.method == "GET":
            return self._login_form("")
        if req.path == "/login" and req.method == "POST":
            user, pw = req.form.get("username", ""), req.form.get("password", "")
            if not user or not pw:
                return self._login_form("Please enter both a username and a password.")
            if USERS.get(user) != pw:
                st["failed"] += 1
                return self._login_form("Wrong username or password.")
            st["user"] = user
            st["logins"].append(user)
            return _redirect("/account")
        if req.path.startswith("/account") and st["user"] is None:
            return _redirect("/login")
        if req.path == "/account":
            email = st["email"].get(st["user"], f"{st['user']}@example.com")
            return _page(
                "Your account",
                f"<h1>Welcome, {_e(st['user'])}</h1><p>Email: {_e(email)}</p>"
                f"<a href='/account/settings'{_i(20)}>Settings</a> "
                f"<form method='post' action='/logout'><button{_i(21)}>Log out</button></form>",
            )
        if req.path == "/account/settings" and req.method == "GET":
            return self._settings("")
        if req.path == "/account/settings" and req.method == "POST":
            email = req.form.get("email", "").strip()
            if "@" not in email or "." not in email.split("@")[-1]:
                return self._settings("That is not a valid email address.")
            st["email"][st["user"]] = email
            return _redirect("/account")
        if req.path == "/logout" and req.method == "POST":
            st["user"] = None
            return _redirect("/login")
        return _not_found()

    def _login_form(self, error: str) -> Response:
        err = f"<p role='alert'>{_e(error)}</p>" if error else ""
        return _page(
            "Sign in",
            "<h1>Sign in</h1>" + err + "<form method='post' action='/login'>"
            f"<label>Username <input name='username'{_i(1)}></label>"
            f"<label>Password <input name='password' type='password'{_i(2)}></label>"
            f"<button type='submit'{_i(3)}>Sign in</button></form>",
        )

    def _settings(self, error: str) -> Response:
        err = f"<p role='alert'>{_e(error)}</p>" if error else ""
        return _page(
            "Settings",
            "<h1>Settings</h1>" + err + "<form method='post' action='/account/settings'>"
            f"<label>New email <input name='email'{_i(30)}></label>"
            f"<button{_i(31)}>Save</button></form>",
        )

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:
        st = self.state
        if verifier == "logged_in":
            return 1.0 if expect["user"] in st["logins"] else 0.0
        if verifier == "email":
            return _frac(
                [expect["user"] in st["logins"], st["email"].get(expect["user"]) == expect["email"]]
            )
        if verifier == "logged_out":
            if expect["user"] not in st["logins"]:
                return 0.0
            return 1.0 if st["user"] is None else 0.5
        raise ValueError(f"login site has no verifier {verifier!r}")


# ------------------------------------------------------------------ forms with validation


class FormSite(Site):
    """A sign-up form and a contact form; the server validates and shows field errors."""

    name = "forms"
    COUNTRIES = ["Choose…", "Canada", "France", "Japan", "Kenya", "Peru"]
    TOPICS = ["Choose…", "Billing", "Bug report", "Feature request"]

    def __init__(self, setup: dict[str, Any]) -> None:
        super().__init__(setup)
        self.state: dict[str, Any] = {"signups": [], "messages": [], "prefs": None}

    def handle(self, req: Request) -> Response:
        if req.path == "/" and req.method == "GET":
            return _page(
                "Forms",
                f"<h1>Forms</h1><ul><li><a href='/signup'{_i(1)}>Sign up</a></li>"
                f"<li><a href='/contact'{_i(2)}>Contact us</a></li>"
                f"<li><a href='/preferences'{_i(3)}>Newsletter preferences</a></li></ul>",
            )
        if req.path == "/signup":
            if req.method == "GET":
                return self._signup({}, {})
            f = req.form
            errors: dict[str, str] = {}
            if not f.get("name", "").strip():
                errors["name"] = "Name is required."
            email = f.get("email", "")
            if "@" not in email or "." not in email.split("@")[-1]:
                errors["email"] = "Enter a valid email address."
            age = f.get("age", "")
            if not age.isdigit() or not 18 <= int(age) <= 120:
                errors["age"] = "Age must be a whole number from 18 to 120."
            if f.get("country", "Choose…") == "Choose…":
                errors["country"] = "Choose a country."
            if f.get("terms") != "yes":
                errors["terms"] = "You must accept the terms."
            if errors:
                return self._signup(f, errors)
            self.state["signups"].append(dict(f))
            return _page("Welcome", f"<h1>Thanks, {_e(f['name'])}!</h1><p>Account created.</p>")
        if req.path == "/contact":
            if req.method == "GET":
                return self._contact("")
            f = req.form
            if f.get("topic", "Choose…") == "Choose…" or len(f.get("message", "").strip()) < 10:
                return self._contact("Choose a topic and write at least 10 characters.")
            self.state["messages"].append(dict(f))
            return _page("Sent", "<h1>Message sent</h1><p>We will reply soon.</p>")
        if req.path == "/preferences":
            if req.method == "GET":
                return self._prefs()
            self.state["prefs"] = {
                "topics": sorted(req.form_all.get("topic", [])),
                "frequency": req.form.get("frequency", ""),
            }
            return _page("Saved", "<h1>Preferences saved</h1>")
        return _not_found()

    def _signup(self, f: dict[str, str], errors: dict[str, str]) -> Response:
        def err(k: str) -> str:
            return f"<span role='alert'>{_e(errors[k])}</span>" if k in errors else ""

        opts = "".join(
            f"<option{' selected' if f.get('country') == c else ''}>{_e(c)}</option>"
            for c in self.COUNTRIES
        )
        return _page(
            "Sign up",
            "<h1>Create an account</h1><form method='post' action='/signup'>"
            f"<p><label>Full name <input name='name' value='{_e(f.get('name', ''))}'{_i(10)}></label>{err('name')}</p>"
            f"<p><label>Email <input name='email' value='{_e(f.get('email', ''))}'{_i(11)}></label>{err('email')}</p>"
            f"<p><label>Age <input name='age' value='{_e(f.get('age', ''))}'{_i(12)}></label>{err('age')}</p>"
            f"<p><label>Country <select name='country'{_i(13)}>{opts}</select></label>{err('country')}</p>"
            f"<p><label><input type='checkbox' name='terms' value='yes'{_i(14)}> I accept the terms</label>{err('terms')}</p>"
            f"<button{_i(15)}>Create account</button></form>",
        )

    def _contact(self, error: str) -> Response:
        err = f"<p role='alert'>{_e(error)}</p>" if error else ""
        opts = "".join(f"<option>{_e(t)}</option>" for t in self.TOPICS)
        return _page(
            "Contact us",
            "<h1>Contact us</h1>" + err + "<form method='post' action='/contact'>"
            f"<label>Topic <select name='topic'{_i(20)}>{opts}</select></label>"
            f"<label>Message <textarea name='message'{_i(21)}></textarea></label>"
            f"<button{_i(22)}>Send</button></form>",
        )

    def _prefs(self) -> Response:
        topics = ["Science", "Sports", "Travel", "Cooking"]
        boxes = "".join(
            f"<label><input type='checkbox' name='topic' value='{t}'{_i(30 + k)}> {t}</label>"
            for k, t in enumerate(topics)
        )
        radios = "".join(
            f"<label><input type='radio' name='frequency' value='{fr}'{_i(40 + k)}> {fr}</label>"
            for k, fr in enumerate(["daily", "weekly", "monthly"])
        )
        return _page(
            "Newsletter preferences",
            "<h1>Newsletter preferences</h1><form method='post' action='/preferences'>"
            f"<fieldset><legend>Topics</legend>{boxes}</fieldset>"
            f"<fieldset><legend>How often</legend>{radios}</fieldset>"
            f"<button{_i(45)}>Save preferences</button></form>",
        )

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:
        if verifier == "signup":
            if not self.state["signups"]:
                return 0.0
            got = self.state["signups"][-1]
            return _frac([got.get(k) == v for k, v in expect.items()])
        if verifier == "contact":
            if not self.state["messages"]:
                return 0.0
            got = self.state["messages"][-1]
            return _frac(
                [got.get("topic") == expect["topic"], expect["phrase"] in got.get("message", "")]
            )
        if verifier == "prefs":
            got = self.state["prefs"]
            if got is None:
                return 0.0
            return _frac(
                [got["topics"] == sorted(expect["topics"]), got["frequency"] == expect["frequency"]]
            )
        raise ValueError(f"forms site has no verifier {verifier!r}")


# ------------------------------------------------------------------ search, then click


ARTICLES = [
    ("volcano", "How volcanoes form", "Magma rises through the crust and erupts."),
    ("tides", "Why the sea has tides", "The moon's gravity pulls the oceans."),
    ("bees", "The waggle dance of bees", "Bees tell each other where flowers are."),
    ("glass", "How glass is made", "Sand is melted at very high temperatures."),
    ("compass", "How a compass works", "A magnetised needle points north."),
    ("bread", "The chemistry of bread", "Yeast makes carbon dioxide bubbles."),
    ("comets", "Where comets come from", "Icy bodies from the outer solar system."),
    ("coral", "Coral reefs in danger", "Warm water bleaches the coral."),
    ("volcano-2", "Famous volcanic eruptions", "Vesuvius buried Pompeii in 79 AD."),
    ("bees-2", "Keeping bees at home", "A hive needs sun and shelter."),
]


class SearchSite(Site):
    """A search box over a few articles; results link to article pages."""

    name = "search"

    def __init__(self, setup: dict[str, Any]) -> None:
        super().__init__(setup)
        self.state: dict[str, Any] = {"searches": [], "opened": []}

    def handle(self, req: Request) -> Response:
        if req.path == "/":
            return _page(
                "Search",
                "<h1>Science notes</h1><form method='get' action='/search'>"
                f"<input name='q' type='search' aria-label='Search'{_i(1)}>"
                f"<button{_i(2)}>Search</button></form>",
            )
        if req.path == "/search":
            q = req.query.get("q", "").strip().lower()
            self.state["searches"].append(q)
            hits = [a for a in ARTICLES if q and (q in a[1].lower() or q in a[2].lower())]
            items = "".join(
                f"<li><a href='/article/{slug}'{_i(10 + k)}>{_e(title)}</a></li>"
                for k, (slug, title, _) in enumerate(hits)
            )
            body = f"<ul>{items}</ul>" if hits else "<p>No results.</p>"
            return _page(
                f"Results for {q}",
                f"<h1>Results for “{_e(q)}”</h1><p>{len(hits)} result(s)</p>{body}"
                f"<a href='/'{_i(9)}>New search</a>",
            )
        if req.path.startswith("/article/"):
            slug = req.path.split("/", 2)[2]
            for s, title, text in ARTICLES:
                if s == slug:
                    self.state["opened"].append(slug)
                    return _page(title, f"<h1>{_e(title)}</h1><p>{_e(text)}</p>")
        return _not_found()

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:
        if verifier == "opened":
            searched = any(expect["query"] in q for q in self.state["searches"])
            opened = bool(self.state["opened"]) and self.state["opened"][-1] == expect["slug"]
            return 1.0 if opened and searched else 0.5 if opened or searched else 0.0
        raise ValueError(f"search site has no verifier {verifier!r}")


# ------------------------------------------------------------------ tables, sorting, paging


PRODUCTS = [
    ("P01", "Desk lamp", 24.50, 12),
    ("P02", "Office chair", 139.00, 4),
    ("P03", "Notebook", 3.20, 250),
    ("P04", "Stapler", 8.90, 40),
    ("P05", "Monitor stand", 45.00, 9),
    ("P06", "Pen set", 6.75, 120),
    ("P07", "Whiteboard", 59.99, 6),
    ("P08", "Paper shredder", 89.00, 3),
    ("P09", "Desk mat", 17.40, 33),
    ("P10", "Cable box", 12.30, 21),
    ("P11", "Bookshelf", 99.50, 2),
    ("P12", "Calculator", 15.00, 18),
]


class TableSite(Site):
    """A product table, sortable by column (server side), 6 rows per page."""

    name = "table"
    PER_PAGE = 6

    def __init__(self, setup: dict[str, Any]) -> None:
        super().__init__(setup)
        self.state: dict[str, Any] = {"sorts": [], "opened": [], "flagged": []}

    def handle(self, req: Request) -> Response:
        if req.path in ("/", "/products"):
            key = req.query.get("sort", "")
            desc = req.query.get("dir") == "desc"
            page = int(req.query.get("page", "1")) if req.query.get("page", "1").isdigit() else 1
            rows = list(PRODUCTS)
            col = {"name": 1, "price": 2, "stock": 3}.get(key)
            if col is not None:
                self.state["sorts"].append((key, "desc" if desc else "asc"))
                rows.sort(key=lambda r: r[col], reverse=desc)
            pages = (len(rows) + self.PER_PAGE - 1) // self.PER_PAGE
            page = min(max(page, 1), pages)
            shown = rows[(page - 1) * self.PER_PAGE : page * self.PER_PAGE]

            def head(c: str, n: int) -> str:
                d = "desc" if key == c and not desc else "asc"
                mark = (" ▼" if desc else " ▲") if key == c else ""
                return f"<th><a href='/products?sort={c}&dir={d}'{_i(n)}>{c.title()}{mark}</a></th>"

            trs = "".join(
                f"<tr><td><a href='/product/{pid}'{_i(20 + k)}>{_e(name)}</a></td>"
                f"<td>{price:.2f}</td><td>{stock}</td></tr>"
                for k, (pid, name, price, stock) in enumerate(shown)
            )
            q = f"sort={key}&dir={'desc' if desc else 'asc'}&" if key else ""
            nav = ""
            if page > 1:
                nav += f"<a href='/products?{q}page={page - 1}'{_i(30)}>Previous page</a> "
            if page < pages:
                nav += f"<a href='/products?{q}page={page + 1}'{_i(31)}>Next page</a>"
            return _page(
                "Products",
                f"<h1>Products</h1><p>Page {page} of {pages}</p><table><thead><tr>"
                + head("name", 10)
                + head("price", 11)
                + head("stock", 12)
                + f"</tr></thead><tbody>{trs}</tbody></table>{nav}",
            )
        if req.path.startswith("/product/"):
            pid = req.path.rsplit("/", 1)[1]
            for p, name, price, stock in PRODUCTS:
                if p == pid:
                    if req.method == "POST":
                        self.state["flagged"].append(pid)
                        return _redirect(f"/product/{pid}")
                    self.state["opened"].append(pid)
                    flag = "<p>Flagged for reorder.</p>" if pid in self.state["flagged"] else ""
                    return _page(
                        name,
                        f"<h1>{_e(name)}</h1><p>Price: {price:.2f}</p><p>In stock: {stock}</p>"
                        f"{flag}<form method='post'><button{_i(40)}>Flag for reorder</button>"
                        f"</form><a href='/products'{_i(41)}>All products</a>",
                    )
        return _not_found()

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:
        st = self.state
        if verifier == "opened_after_sort":
            sorted_ok = tuple(expect["sort"]) in [tuple(s) for s in st["sorts"]]
            opened_ok = bool(st["opened"]) and st["opened"][-1] == expect["pid"]
            return _frac([sorted_ok, opened_ok])
        if verifier == "flagged":
            want = set(expect["pids"])
            got = set(st["flagged"])
            return len(want & got) / len(want) if not got - want else 0.0
        raise ValueError(f"table site has no verifier {verifier!r}")


# ------------------------------------------------------------------ shop with a cart


SHOP = [
    ("apple", "Apples (1 kg)", 3.40),
    ("bread", "Sourdough bread", 4.10),
    ("cheese", "Cheddar cheese", 6.25),
    ("milk", "Milk (1 l)", 1.15),
    ("tea", "Green tea", 5.60),
]


class ShopSite(Site):
    """A shop: add to cart, change quantities, remove, check out with an address."""

    name = "shop"

    def __init__(self, setup: dict[str, Any]) -> None:
        super().__init__(setup)
        self.state: dict[str, Any] = {
            "cart": dict(setup.get("cart", {})),
            "orders": [],
        }

    def handle(self, req: Request) -> Response:
        cart: dict[str, int] = self.state["cart"]
        if req.path == "/":
            rows = "".join(
                f"<li>{_e(name)} — {price:.2f}"
                f"<form method='post' action='/cart/add'><input type='hidden' name='item' "
                f"value='{sku}'><button aria-label='Add {_e(name)} to cart'{_i(10 + k)}>"
                "Add to cart</button></form></li>"
                for k, (sku, name, price) in enumerate(SHOP)
            )
            n = sum(cart.values())
            return _page(
                "Shop",
                f"<h1>Corner shop</h1><ul>{rows}</ul><a href='/cart'{_i(1)}>Cart ({n})</a>",
            )
        if req.path == "/cart/add" and req.method == "POST":
            sku = req.form.get("item", "")
            if sku in dict((s, n) for s, n, _ in SHOP):
                cart[sku] = cart.get(sku, 0) + 1
            return _redirect("/")
        if req.path == "/cart" and req.method == "GET":
            return self._cart("")
        if req.path == "/cart" and req.method == "POST":
            for sku, _, _ in SHOP:
                v = req.form.get(f"qty-{sku}")
                if v is None:
                    continue
                if not v.strip().isdigit() or int(v) > 99:
                    return self._cart("Quantities must be whole numbers from 0 to 99.")
                if int(v) == 0:
                    cart.pop(sku, None)
                else:
                    cart[sku] = int(v)
            rm = req.form.get("remove")
            if rm:
                cart.pop(rm, None)
            return _redirect("/cart")
        if req.path == "/checkout":
            if not cart:
                return _redirect("/cart")
            if req.method == "GET":
                return self._checkout("")
            name, addr = req.form.get("name", "").strip(), req.form.get("address", "").strip()
            if not name or len(addr) < 5:
                return self._checkout("Enter your name and a full address.")
            self.state["orders"].append({"items": dict(cart), "name": name, "address": addr})
            cart.clear()
            return _page("Order placed", "<h1>Thank you!</h1><p>Your order is on its way.</p>")
        return _not_found()

    def _cart(self, error: str) -> Response:
        cart = self.state["cart"]
        err = f"<p role='alert'>{_e(error)}</p>" if error else ""
        rows = ""
        total = 0.0
        for k, (sku, name, price) in enumerate(SHOP):
            if sku not in cart:
                continue
            total += price * cart[sku]
            rows += (
                f"<tr><td>{_e(name)}</td><td><input name='qty-{sku}' value='{cart[sku]}' "
                f"aria-label='Quantity of {_e(name)}'{_i(20 + k)}></td>"
                f"<td><button name='remove' value='{sku}' aria-label='Remove {_e(name)}'"
                f"{_i(30 + k)}>Remove</button></td></tr>"
            )
        if not rows:
            return _page(
                "Cart",
                f"<h1>Your cart</h1>{err}<p>Your cart is empty.</p><a href='/'{_i(2)}>Shop</a>",
            )
        return _page(
            "Cart",
            f"<h1>Your cart</h1>{err}<form method='post' action='/cart'><table>{rows}</table>"
            f"<button{_i(3)}>Update cart</button></form><p>Total: {total:.2f}</p>"
            f"<a href='/'{_i(2)}>Keep shopping</a> <a href='/checkout'{_i(4)}>Check out</a>",
        )

    def _checkout(self, error: str) -> Response:
        err = f"<p role='alert'>{_e(error)}</p>" if error else ""
        return _page(
            "Checkout",
            f"<h1>Checkout</h1>{err}<form method='post' action='/checkout'>"
            f"<label>Name <input name='name'{_i(50)}></label>"
            f"<label>Address <input name='address'{_i(51)}></label>"
            f"<button{_i(52)}>Place order</button></form>",
        )

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:
        want: dict[str, int] = expect["items"]
        if verifier == "cart":
            have = self.state["cart"]
            if self.state["orders"]:
                have = self.state["orders"][-1]["items"]
            keys = set(want) | set(have)
            return _frac([have.get(k, 0) == want.get(k, 0) for k in keys])
        if verifier == "order":
            if not self.state["orders"]:
                have = self.state["cart"]
                keys = set(want) | set(have)
                return 0.5 * _frac([have.get(k, 0) == want.get(k, 0) for k in keys])
            o = self.state["orders"][-1]
            return _frac(
                [o["items"] == want, o["name"] == expect["name"], o["address"] == expect["address"]]
            )
        raise ValueError(f"shop site has no verifier {verifier!r}")


# ------------------------------------------------------------------ multi-page wizard


class WizardSite(Site):
    """A three-page booking flow: plan (radio) → details → confirm."""

    name = "wizard"
    PLANS = ["Basic", "Plus", "Family"]

    def __init__(self, setup: dict[str, Any]) -> None:
        super().__init__(setup)
        self.state: dict[str, Any] = {"draft": {}, "bookings": []}

    def handle(self, req: Request) -> Response:
        d = self.state["draft"]
        if req.path in ("/", "/step1"):
            if req.method == "POST":
                if req.form.get("plan") not in self.PLANS:
                    return self._step1("Choose a plan to continue.")
                d["plan"] = req.form["plan"]
                return _redirect("/step2")
            return self._step1("")
        if req.path == "/step2":
            if "plan" not in d:
                return _redirect("/step1")
            if req.method == "POST":
                date, people = req.form.get("date", ""), req.form.get("people", "")
                if not people.isdigit() or not 1 <= int(people) <= 8 or len(date) != 10:
                    return self._step2("Enter a date as YYYY-MM-DD and 1 to 8 people.")
                d.update(date=date, people=int(people))
                return _redirect("/step3")
            return self._step2("")
        if req.path == "/step3":
            if "people" not in d:
                return _redirect("/step2")
            if req.method == "POST":
                self.state["bookings"].append(dict(d))
                d.clear()
                return _page("Booked", "<h1>Booking confirmed</h1>")
            return _page(
                "Step 3 of 3: confirm",
                f"<h1>Confirm your booking</h1><p>Plan: {_e(d['plan'])}</p>"
                f"<p>Date: {_e(d['date'])}</p><p>People: {d['people']}</p>"
                f"<form method='post'><button{_i(30)}>Confirm booking</button></form>"
                f"<a href='/step2'{_i(31)}>Change details</a>",
            )
        return _not_found()

    def _step1(self, error: str) -> Response:
        err = f"<p role='alert'>{_e(error)}</p>" if error else ""
        radios = "".join(
            f"<label><input type='radio' name='plan' value='{p}'{_i(10 + k)}> {p}</label>"
            for k, p in enumerate(self.PLANS)
        )
        return _page(
            "Step 1 of 3: plan",
            f"<h1>Choose a plan</h1>{err}<form method='post' action='/step1'>{radios}"
            f"<button{_i(13)}>Next</button></form>",
        )

    def _step2(self, error: str) -> Response:
        err = f"<p role='alert'>{_e(error)}</p>" if error else ""
        return _page(
            "Step 2 of 3: details",
            f"<h1>Your details</h1>{err}<form method='post' action='/step2'>"
            f"<label>Date <input name='date' placeholder='YYYY-MM-DD'{_i(20)}></label>"
            f"<label>People <input name='people'{_i(21)}></label>"
            f"<button{_i(22)}>Next</button></form>",
        )

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:
        if verifier == "booking":
            if not self.state["bookings"]:
                d = self.state["draft"]
                return 0.5 * _frac([d.get(k) == v for k, v in expect.items()])
            b = self.state["bookings"][-1]
            return _frac([b.get(k) == v for k, v in expect.items()])
        raise ValueError(f"wizard site has no verifier {verifier!r}")


# ------------------------------------------------------------------ dynamic content


DYNAMIC_JS = r"""
const $ = (s) => document.querySelector(s);
async function loadMore() {
  const r = await fetch('/api/items?offset=' + document.querySelectorAll('#items li').length);
  const data = await r.json();
  for (const it of data.items) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.textContent = it.name;
    b.setAttribute('data-envlearn-id', String(it.id));
    b.onclick = () => fetch('/api/pick', {method: 'POST', body: 'item=' + it.name,
      headers: {'Content-Type': 'application/x-www-form-urlencoded'}})
      .then((r) => r.json()).then((d) => { $('#status').textContent = d.message; });
    li.appendChild(b);
    $('#items').appendChild(li);
  }
  if (!data.more) $('#more').remove();
}
function reveal() {
  setTimeout(() => { $('#secret').hidden = false; $('#reveal').disabled = true; }, 300);
}
function removeRow(name) {
  if (!confirm('Delete ' + name + '? This cannot be undone.')) return;
  fetch('/api/delete', {method: 'POST', body: 'name=' + name,
    headers: {'Content-Type': 'application/x-www-form-urlencoded'}})
    .then((r) => r.json()).then((d) => {
      document.getElementById('row-' + name).remove();
      alert(d.message);
    });
}
function showTab(n) {
  for (const p of document.querySelectorAll('[role=tabpanel]')) p.hidden = p.id !== 'panel-' + n;
  for (const t of document.querySelectorAll('[role=tab]'))
    t.setAttribute('aria-selected', String(t.id === 'tab-' + n));
}
"""

ITEMS = [f"Gadget {c}" for c in "ABCDEFGHIJKL"]


class DynamicSite(Site):
    """Pages whose content changes without navigation: load more, reveal, confirm, tabs."""

    name = "dynamic"

    def __init__(self, setup: dict[str, Any]) -> None:
        super().__init__(setup)
        self.state: dict[str, Any] = {
            "picked": [],
            "deleted": [],
            "answers": [],
            "files": list(setup.get("files", ["draft.txt", "notes.txt", "old-report.pdf"])),
        }
        self.code = str(setup.get("code", "K7Q2"))

    def handle(self, req: Request) -> Response:
        if req.path == "/":
            return _page(
                "Dynamic pages",
                f"<h1>Dynamic pages</h1><a href='/catalog'{_i(1)}>Catalog</a> "
                f"<a href='/vault'{_i(2)}>Vault</a> <a href='/files'{_i(3)}>Files</a> "
                f"<a href='/help'{_i(4)}>Help</a>",
            )
        if req.path == "/catalog":
            return _page(
                "Catalog",
                "<h1>Catalog</h1><ul id='items'></ul><p id='status' role='status'></p>"
                f"<button id='more' onclick='loadMore()'{_i(10)}>Load more</button>",
                DYNAMIC_JS + "loadMore();",
            )
        if req.path == "/api/items":
            off = int(req.query.get("offset", "0") or 0)
            chunk = [{"name": n, "id": 50 + off + k} for k, n in enumerate(ITEMS[off : off + 4])]
            more = off + 4 < len(ITEMS)
            return Response(json.dumps({"items": chunk, "more": more}), 200, "application/json")
        if req.path == "/api/pick" and req.method == "POST":
            item = req.form.get("item", "")
            self.state["picked"].append(item)
            return Response(json.dumps({"message": f"You picked {item}."}), 200, "application/json")
        if req.path == "/vault":
            if req.method == "POST":
                self.state["answers"].append(req.form.get("code", "").strip())
                ok = self.state["answers"][-1] == self.code
                return _page("Vault", f"<h1>{'Unlocked' if ok else 'Wrong code'}</h1>")
            return _page(
                "Vault",
                "<h1>Vault</h1><p>The code appears after you press the button.</p>"
                f"<button id='reveal' onclick='reveal()'{_i(20)}>Reveal code</button>"
                f"<p id='secret' hidden>Code: {_e(self.code)}</p>"
                f"<form method='post'><label>Code <input name='code'{_i(21)}></label>"
                f"<button{_i(22)}>Open</button></form>",
                DYNAMIC_JS,
            )
        if req.path == "/files":
            rows = "".join(
                f"<tr id='row-{_e(f)}'><td>{_e(f)}</td><td><button "
                f"onclick=\"removeRow('{_e(f)}')\" aria-label='Delete {_e(f)}'{_i(30 + k)}>"
                "Delete</button></td></tr>"
                for k, f in enumerate(self.state["files"])
            )
            return _page("Files", f"<h1>Files</h1><table>{rows}</table>", DYNAMIC_JS)
        if req.path == "/api/delete" and req.method == "POST":
            name = req.form.get("name", "")
            if name in self.state["files"]:
                self.state["files"].remove(name)
                self.state["deleted"].append(name)
            return Response(json.dumps({"message": f"{name} deleted."}), 200, "application/json")
        if req.path == "/help":
            tabs = ["Shipping", "Returns", "Warranty"]
            texts = [
                "Orders ship within 2 days.",
                "Returns are accepted for 45 days.",
                "The warranty lasts 3 years.",
            ]
            tablist = "".join(
                f"<span role='tab' id='tab-{k}' aria-selected='{str(k == 0).lower()}' "
                f"onclick='showTab({k})'{_i(40 + k)}>{t}</span>"
                for k, t in enumerate(tabs)
            )
            panels = "".join(
                f"<div role='tabpanel' id='panel-{k}'{'' if k == 0 else ' hidden'}>{_e(x)}</div>"
                for k, x in enumerate(texts)
            )
            return _page(
                "Help",
                f"<h1>Help</h1><div role='tablist'>{tablist}</div>{panels}"
                f"<form method='post' action='/help/answer'><label>Answer "
                f"<input name='answer'{_i(45)}></label><button{_i(46)}>Submit</button></form>",
                DYNAMIC_JS,
            )
        if req.path == "/help/answer" and req.method == "POST":
            self.state["answers"].append(req.form.get("answer", "").strip())
            return _page("Thanks", "<h1>Answer received</h1>")
        return _not_found()

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:
        st = self.state
        if verifier == "picked":
            return 1.0 if st["picked"] and st["picked"][-1] == expect["item"] else 0.0
        if verifier == "deleted":
            want = set(expect["files"])
            got = set(st["deleted"])
            return len(want & got) / len(want) if not got - want else 0.0
        if verifier == "answer":
            return 1.0 if st["answers"] and st["answers"][-1] == expect["answer"] else 0.0
        raise ValueError(f"dynamic site has no verifier {verifier!r}")


# ------------------------------------------------------------------ harness behaviour


class PlaygroundSite(Site):
    """Pages that poke at the harness (used by the tests, in no suite): outside requests,
    popups, downloads, console errors, dialogs, long pages, unclickable elements."""

    name = "playground"

    def __init__(self, setup: dict[str, Any]) -> None:
        super().__init__(setup)
        self.state: dict[str, Any] = {}

    def handle(self, req: Request) -> Response:
        p = req.path
        if p == "/":
            return _page(
                "Playground",
                f"<h1>Playground</h1><a href='/long'{_i(1)}>Long</a>"
                f"<a href='http://example.com/'{_i(2)}>Away</a>"
                f"<a href='file:///etc/passwd'{_i(3)}>File</a>",
            )
        if p == "/external":
            return _page(
                "External",
                "<h1>External</h1><img src='http://example.com/x.png' alt='remote'>"
                "<img src='http://127.0.0.1:9/other-port.png' alt='other port'>",
                "try { new WebSocket('ws://127.0.0.1:9/socket'); } catch (e) {}",
            )
        if p == "/popup":
            return _page(
                "Popup",
                f"<button onclick=\"window.open('/long')\"{_i(1)}>Open</button>"
                f"<a href='/long' target='_blank'{_i(2)}>New tab</a>",
            )
        if p == "/download":
            return _page("Download", f"<a href='/file.bin' download{_i(1)}>Get file</a>")
        if p == "/file.bin":
            return Response(
                "x" * 100,
                200,
                "application/octet-stream",
                {"Content-Disposition": "attachment; filename=file.bin"},
            )
        if p == "/console":
            return _page(
                "Console",
                f"<button onclick=\"console.error('boom at step'); undefinedFn()\"{_i(1)}>Break"
                f"</button><button onclick=\"alert('Saved!')\"{_i(2)}>Alert</button>"
                f"<button disabled{_i(3)}>Disabled</button>"
                f"<p hidden{_i(4)}>Hidden text</p>",
                "console.error('loaded with an error');",
            )
        if p == "/long":
            rows = "".join(f"<p>Line number {k:04d} of the long page.</p>" for k in range(400))
            return _page("Long", f"<h1>Long page</h1>{rows}<a href='/'{_i(1)}>Home</a>")
        return _not_found()

    def verify(self, verifier: str, expect: dict[str, Any]) -> float:
        return 0.0


SITES: dict[str, Callable[[dict[str, Any]], Site]] = {
    cls.name: cls
    for cls in (
        LoginSite,
        FormSite,
        SearchSite,
        TableSite,
        ShopSite,
        WizardSite,
        DynamicSite,
        PlaygroundSite,
    )
}


def make_site(task: Task) -> Site:
    """The task's site with fresh state; a clear error for a bad task."""
    name = task.data.get("site")
    if name not in SITES:
        raise ValueError(
            f"task {task.id}: data['site'] is {name!r}; set it to one of: {', '.join(sorted(SITES))}"
        )
    return SITES[name](dict(task.data.get("setup", {})))
