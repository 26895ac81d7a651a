from inventory import Inventory


def test_separate_warehouses():
    north = Inventory("north")
    north.add("bolt", 5)
    south = Inventory("south")
    south.add("nut", 2)
    assert south.total() == 2, south.counts


def test_given_counts():
    w = Inventory("w", {"a": 1})
    w.add("a")
    assert w.counts == {"a": 2}
