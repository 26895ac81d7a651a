"""``dungeon``: escape from a small dungeon, generated from a seed.

The rooms form a random tree on a grid.  The way out is a locked gate in the room farthest from
the start; its key lies in a closed chest behind a locked door, whose key lies on the near side.
So the winning plan is always: find the door key, unlock the door, open the chest, take the gate
key, unlock the gate, walk out.  Points: each key taken (first time), each lock opened, the
escape (5 in all).

Commands: ``look``, ``inventory``, ``go north`` (or ``north``/``n``; east, south, west too),
``take X``, ``drop X``, ``open X``, ``unlock X with Y``, ``examine X``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from envlearn_textgame.game import Turn

__all__ = ["DungeonGame"]

DIRS: dict[str, tuple[int, int]] = {
    "north": (0, 1),
    "east": (1, 0),
    "south": (0, -1),
    "west": (-1, 0),
}
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
SHORT = {"n": "north", "e": "east", "s": "south", "w": "west"}

ROOMS: dict[str, str] = {
    "cell": "Straw covers the cold floor.",
    "guardroom": "An overturned table blocks one corner.",
    "armory": "Empty weapon racks line the walls.",
    "crypt": "Stone coffins sit in shallow niches.",
    "kitchen": "A cold hearth smells of old smoke.",
    "library": "Mouldy books sag on the shelves.",
    "chapel": "A cracked altar faces the door.",
    "cellar": "Barrels are stacked against the walls.",
    "well room": "A dry well gapes in the middle of the floor.",
    "storeroom": "Sacks of grain have split open here.",
    "torture chamber": "Rusty chains hang from the ceiling.",
    "gallery": "Faded portraits watch you from the walls.",
}
METALS = ["iron", "brass", "copper", "silver", "bronze", "bone"]
WOODS = ["oak", "pine", "ash", "elm"]
JUNK = ["candle", "spoon", "rope", "skull", "bucket", "rag", "pebble", "bottle"]
ARTICLES = {"the", "a", "an", "some"}
VERBS = (
    "look, inventory, go <direction>, take <thing>, drop <thing>, open <thing>, "
    "unlock <thing> with <key>, examine <thing>"
)


@dataclass
class _Room:
    name: str
    pos: tuple[int, int]
    exits: dict[str, int] = field(default_factory=dict)  # direction -> room index
    items: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _World:
    rooms: tuple[_Room, ...]
    start: int
    exit_room: int
    gate_dir: str
    door: tuple[int, str]  # (room on the near side, direction)
    door_name: str
    door_key: str
    gate_key: str
    chest_room: int


def _generate(seed: int, n_rooms: int, n_junk: int) -> _World:
    rng = random.Random(f"dungeon:{seed}")
    names = rng.sample(sorted(ROOMS), n_rooms)
    rooms = [_Room(names[0], (0, 0))]
    at = {(0, 0): 0}
    while len(rooms) < n_rooms:
        i = rng.randrange(len(rooms))
        d = rng.choice(sorted(DIRS))
        dx, dy = DIRS[d]
        pos = (rooms[i].pos[0] + dx, rooms[i].pos[1] + dy)
        if pos in at:
            continue
        j = len(rooms)
        rooms.append(_Room(names[j], pos))
        at[pos] = j
        rooms[i].exits[d] = j
        rooms[j].exits[OPPOSITE[d]] = i
    depth, parent = _bfs(rooms, 0)
    exit_room = max(range(n_rooms), key=lambda r: (depth[r], -r))
    path = [exit_room]
    while path[-1] != 0:
        path.append(parent[path[-1]][0])
    path.reverse()  # start ... exit_room
    k = rng.randrange(len(path) - 1)
    near, far = path[k], path[k + 1]
    door_dir = next(d for d, r in rooms[near].exits.items() if r == far)
    near_side = _reachable(rooms, 0, blocked={(near, far), (far, near)})
    far_side = [r for r in range(n_rooms) if r not in near_side]
    free = [
        d
        for d in sorted(DIRS)
        if (rooms[exit_room].pos[0] + DIRS[d][0], rooms[exit_room].pos[1] + DIRS[d][1]) not in at
    ]
    gate_dir = rng.choice(free)
    m1, m2 = rng.sample(METALS, 2)
    door_key, gate_key = f"{m1} key", f"{m2} key"
    key_rooms = sorted(near_side - {0}) or [0]
    rooms[rng.choice(key_rooms)].items.append(door_key)
    chest_room = rng.choice(sorted(far_side))
    for junk in rng.sample(JUNK, n_junk):
        rooms[rng.randrange(n_rooms)].items.append(junk)
    return _World(
        rooms=tuple(rooms),
        start=0,
        exit_room=exit_room,
        gate_dir=gate_dir,
        door=(near, door_dir),
        door_name=f"{rng.choice(WOODS)} door",
        door_key=door_key,
        gate_key=gate_key,
        chest_room=chest_room,
    )


def _bfs(rooms: list[_Room], src: int) -> tuple[dict[int, int], dict[int, tuple[int, str]]]:
    depth = {src: 0}
    parent: dict[int, tuple[int, str]] = {}
    q = deque([src])
    while q:
        r = q.popleft()
        for d in sorted(rooms[r].exits):
            s = rooms[r].exits[d]
            if s not in depth:
                depth[s] = depth[r] + 1
                parent[s] = (r, d)
                q.append(s)
    return depth, parent


def _reachable(rooms: list[_Room], src: int, blocked: set[tuple[int, int]]) -> set[int]:
    seen = {src}
    q = deque([src])
    while q:
        r = q.popleft()
        for s in rooms[r].exits.values():
            if s not in seen and (r, s) not in blocked:
                seen.add(s)
                q.append(s)
    return seen


def _a(thing: str) -> str:
    return ("an " if thing[0] in "aeiou" else "a ") + thing


def _listing(things: list[str]) -> str:
    if len(things) == 1:
        return things[0]
    return ", ".join(things[:-1]) + " and " + things[-1]


class DungeonGame:
    """A dungeon escape generated from ``seed`` (``rooms`` rooms, ``junk`` distracting items)."""

    def __init__(self, seed: int, *, rooms: int = 5, junk: int = 2) -> None:
        if not 3 <= rooms <= len(ROOMS):
            raise ValueError(f"dungeon rooms must be between 3 and {len(ROOMS)}, got {rooms}")
        if not 0 <= junk <= len(JUNK):
            raise ValueError(f"dungeon junk must be between 0 and {len(JUNK)}, got {junk}")
        self.seed = seed
        self.world = _generate(seed, rooms, junk)
        self.max_score = 5
        self.start()

    # ------------------------------------------------------------------ the plan

    def walkthrough(self) -> list[str]:
        """The shortest winning command list, computed from the generated world."""
        w = self.world
        rooms = list(w.rooms)
        near, door_dir = w.door
        far = rooms[near].exits[door_dir]
        closed = {(near, far), (far, near)}
        key_room = next(i for i, r in enumerate(rooms) if w.door_key in r.items)
        cmds: list[str] = []
        at = w.start
        at = self._walk(cmds, at, key_room, closed)
        cmds.append(f"take {w.door_key}")
        at = self._walk(cmds, at, near, closed)
        cmds.append(f"unlock {w.door_name} with {w.door_key}")
        at = self._walk(cmds, at, w.chest_room, set())
        cmds += ["open chest", f"take {w.gate_key}"]
        at = self._walk(cmds, at, w.exit_room, set())
        cmds += [f"unlock gate with {w.gate_key}", f"go {w.gate_dir}"]
        return cmds

    def _walk(self, cmds: list[str], src: int, dst: int, blocked: set[tuple[int, int]]) -> int:
        rooms = list(self.world.rooms)
        parent: dict[int, tuple[int, str]] = {}
        seen = {src}
        q = deque([src])
        while q:
            r = q.popleft()
            for d in sorted(rooms[r].exits):
                s = rooms[r].exits[d]
                if s not in seen and (r, s) not in blocked:
                    seen.add(s)
                    parent[s] = (r, d)
                    q.append(s)
        moves: list[str] = []
        r = dst
        while r != src:
            r, d = parent[r]
            moves.append(f"go {d}")
        cmds.extend(reversed(moves))
        return dst

    # ------------------------------------------------------------------ play

    def start(self) -> Turn:
        """Put the player in the first room, everything back in place."""
        w = self.world
        self.here = w.start
        self.items = {i: list(r.items) for i, r in enumerate(w.rooms)}
        self.carried: list[str] = []
        self.chest_open = False
        self.chest_items = [w.gate_key]
        self.door_locked = True
        self.gate_locked = True
        self.points: set[str] = set()
        self.won = False
        intro = (
            "You wake up on a cold stone floor. Somewhere in this dungeon is a way out: "
            "find it and escape.\n\n" + self._room_text()
        )
        return self._turn(intro)

    def step(self, command: str) -> Turn:
        """Play one command."""
        words = [w for w in command.lower().strip().rstrip(".!").split() if w not in ARTICLES]
        if not words:
            return self._turn("You need to say what to do.", understood=False)
        verb, rest = words[0], words[1:]
        if verb in SHORT or verb in DIRS:
            return self._go(SHORT.get(verb, verb))
        if verb in ("go", "walk", "move", "run") and len(rest) == 1:
            return self._go(SHORT.get(rest[0], rest[0]))
        if verb in ("look", "l") and not rest:
            return self._turn(self._room_text())
        if verb in ("inventory", "i", "inv") and not rest:
            return self._turn(self._inventory_text())
        if verb in ("take", "get") or (verb == "pick" and rest[:1] == ["up"]):
            return self._take(" ".join(rest[1:] if verb == "pick" else rest))
        if verb == "drop":
            return self._drop(" ".join(rest))
        if verb == "open":
            return self._open(" ".join(rest))
        if verb == "unlock":
            target, _, key = " ".join(rest).partition(" with ")
            return self._unlock(target.strip(), key.strip())
        if verb in ("examine", "x", "inspect") or (verb == "look" and rest[:1] == ["at"]):
            return self._examine(" ".join(rest[1:] if verb == "look" else rest))
        if verb in ("go", "walk", "move", "run"):
            return self._turn(
                "Go where? Say a direction: north, east, south or west.", understood=False
            )
        return self._turn(f"I don't know how to {verb!r}.", understood=False)

    def close(self) -> None:
        """Nothing to release: the game lives in memory."""

    # ------------------------------------------------------------------ verbs

    def _go(self, d: str) -> Turn:
        w = self.world
        if d not in DIRS:
            return self._turn(f"{d!r} is not a direction.", understood=False)
        if self.here == w.exit_room and d == w.gate_dir:
            if self.gate_locked:
                return self._turn("The gate is locked.")
            self.won = True
            self._point("escape")
            return self._turn("You step through the gate into daylight. You have escaped!")
        if d not in w.rooms[self.here].exits:
            return self._turn("You can't go that way.")
        if self._door_between(self.here, d) and self.door_locked:
            return self._turn(f"The {w.door_name} is locked.")
        self.here = w.rooms[self.here].exits[d]
        return self._turn(self._room_text())

    def _take(self, what: str) -> Turn:
        if not what:
            return self._turn("Take what?", understood=False)
        here = self.items[self.here]
        in_chest = self.chest_items if self._chest_here() and self.chest_open else []
        thing = _match(what, here + in_chest)
        if thing is None:
            if _match(what, self.carried):
                return self._turn("You already have that.")
            if what in ("chest", "door", "gate") or what.endswith((" door", " gate")):
                return self._turn("That is fixed in place.")
            return self._turn(f"You see no {what} here.")
        (here if thing in here else in_chest).remove(thing)
        self.carried.append(thing)
        if thing in (self.world.door_key, self.world.gate_key):
            self._point(f"take {thing}")
        return self._turn(f"Taken: the {thing}.")

    def _drop(self, what: str) -> Turn:
        thing = _match(what, self.carried) if what else None
        if thing is None:
            return self._turn("You are not carrying that." if what else "Drop what?")
        self.carried.remove(thing)
        self.items[self.here].append(thing)
        return self._turn(f"Dropped: the {thing}.")

    def _open(self, what: str) -> Turn:
        w = self.world
        if what == "chest" and self._chest_here():
            if self.chest_open:
                return self._turn("The chest is already open.")
            self.chest_open = True
            inside = _listing([_a(t) for t in self.chest_items]) if self.chest_items else "nothing"
            return self._turn(f"You open the chest. Inside you find {inside}.")
        if self._door_named(what):
            if self.door_locked:
                return self._turn(f"The {w.door_name} is locked.")
            return self._turn(f"The {w.door_name} is already open.")
        if what == "gate" and self.here == w.exit_room:
            return self._turn("The gate is locked." if self.gate_locked else "The gate is open.")
        return self._turn(f"You see no {what or 'such thing'} to open here.")

    def _unlock(self, target: str, key: str) -> Turn:
        w = self.world
        if self._door_named(target):
            lock, need = "door", w.door_key
        elif target == "gate" and self.here == w.exit_room:
            lock, need = "gate", w.gate_key
        elif target == "chest" and self._chest_here():
            return self._turn("The chest has no lock; just open it.")
        else:
            return self._turn(f"You see no {target or 'such thing'} to unlock here.")
        name = w.door_name if lock == "door" else "gate"
        if not (self.door_locked if lock == "door" else self.gate_locked):
            return self._turn(f"The {name} is already unlocked.")
        if key:
            held = _match(key, self.carried)
            if held is None:
                return self._turn(f"You are not carrying {_a(key)}.")
            if held != need:
                return self._turn(f"The {held} does not fit the {name}.")
        elif need not in self.carried:
            return self._turn(f"You have no key that fits the {name}.")
        if lock == "door":
            self.door_locked = False
        else:
            self.gate_locked = False
        self._point(f"unlock {lock}")
        return self._turn(f"You unlock the {name} with the {need}. It swings open.")

    def _examine(self, what: str) -> Turn:
        w = self.world
        if not what:
            return self._turn("Examine what?", understood=False)
        if what in ("room", "around"):
            return self._turn(self._room_text())
        if what == "chest" and self._chest_here():
            state = "open" if self.chest_open else "closed"
            return self._turn(f"A heavy wooden chest, {state}. It has no lock.")
        if self._door_named(what):
            state = "locked" if self.door_locked else "open"
            return self._turn(f"A sturdy {w.door_name}, {state}. Its lock is small.")
        if what == "gate" and self.here == w.exit_room:
            state = "locked" if self.gate_locked else "open"
            return self._turn(f"An iron gate, {state}. Daylight shows through the bars.")
        thing = _match(what, self.carried + self.items[self.here])
        if thing is None:
            return self._turn(f"You see no {what} here.")
        if thing.endswith(" key"):
            return self._turn(f"A small {thing}. It must open something.")
        return self._turn(f"An ordinary {thing}. It does not look useful.")

    # ------------------------------------------------------------------ state

    def _point(self, what: str) -> None:
        self.points.add(what)

    def _chest_here(self) -> bool:
        return self.here == self.world.chest_room

    def _door_between(self, room: int, d: str) -> bool:
        near, door_dir = self.world.door
        far = self.world.rooms[near].exits[door_dir]
        return (room, d) == (near, door_dir) or (room, d) == (far, OPPOSITE[door_dir])

    def _door_named(self, what: str) -> bool:
        if what not in ("door", self.world.door_name):
            return False
        return any(self._door_between(self.here, d) for d in self.world.rooms[self.here].exits)

    def _room_text(self) -> str:
        w = self.world
        room = w.rooms[self.here]
        lines = [f"-= {room.name.title()} =-", f"You are in the {room.name}. {ROOMS[room.name]}"]
        exits = []
        for d in DIRS:
            if d in room.exits:
                if self._door_between(self.here, d):
                    state = "locked" if self.door_locked else "open"
                    exits.append(f"{d} (through {_a(w.door_name)}, {state})")
                else:
                    exits.append(d)
            elif self.here == w.exit_room and d == w.gate_dir:
                exits.append(f"{d} (through a gate, {'locked' if self.gate_locked else 'open'})")
        lines.append("Exits: " + ", ".join(exits) + ".")
        seen = [_a(t) for t in self.items[self.here]]
        if self._chest_here():
            seen.append(f"a chest ({'open' if self.chest_open else 'closed'})")
        if seen:
            lines.append(f"You see {_listing(seen)}.")
        return "\n".join(lines)

    def _inventory_text(self) -> str:
        if not self.carried:
            return "You are carrying nothing."
        return f"You are carrying {_listing([_a(t) for t in self.carried])}."

    def _turn(self, narration: str, *, understood: bool = True) -> Turn:
        return Turn(
            narration=narration,
            room=self._room_text(),
            inventory=self._inventory_text(),
            score=len(self.points),
            max_score=self.max_score,
            won=self.won,
            understood=understood,
        )


def _match(what: str, things: list[str]) -> str | None:
    """The thing ``what`` names: its full name, or its last word when that is unambiguous."""
    if what in things:
        return what
    hits = [t for t in things if t.split()[-1] == what or t.split()[0] == what]
    return hits[0] if len(set(hits)) == 1 else None
