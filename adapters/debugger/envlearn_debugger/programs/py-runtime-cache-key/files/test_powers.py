from powers import power


def test_square():
    assert power(3, 2) == 9


def test_then_cube():
    assert power(3, 2) == 9
    assert power(3, 3) == 27


def test_other_base():
    assert power(2, 5) == 32
