from grades import grade


def test_top():
    assert grade(97) == "A"


def test_boundary_a():
    assert grade(90) == "A"


def test_b():
    assert grade(85) == "B"


def test_fail():
    assert grade(12) == "F"
