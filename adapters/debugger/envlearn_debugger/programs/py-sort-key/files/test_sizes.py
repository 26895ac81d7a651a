from sizes import by_size


def test_order():
    assert by_size({"a": "9", "b": "10", "c": "1"}) == ["c", "a", "b"]


def test_one():
    assert by_size({"x": "5"}) == ["x"]
