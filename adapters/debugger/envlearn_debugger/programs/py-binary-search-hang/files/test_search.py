from search import find


def test_found_left():
    assert find([1, 3, 5, 7], 1) == 0


def test_found_right():
    assert find([1, 3, 5, 7], 7) == 3


def test_missing():
    assert find([1, 3, 5, 7], 4) == -1
