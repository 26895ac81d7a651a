from evens import summary


def test_summary():
    assert summary(7) == (4, 12)


def test_zero():
    assert summary(0) == (0, 0)
