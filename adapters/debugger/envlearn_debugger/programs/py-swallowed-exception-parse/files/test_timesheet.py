from timesheet import total_hours


def test_total():
    assert total_hours(["alice: 3", "bob: 4"]) == 7


def test_skips_comments():
    assert total_hours(["# week 1", "carol: 2"]) == 2


def test_empty():
    assert total_hours([]) == 0
