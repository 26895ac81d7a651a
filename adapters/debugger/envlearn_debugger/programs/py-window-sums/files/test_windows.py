from windows import window_sums


def test_pairs():
    assert window_sums([1, 2, 3, 4], 2) == [3, 5, 7]


def test_whole():
    assert window_sums([5, 6], 2) == [11]


def test_too_long():
    assert window_sums([1], 2) == []
