from scores import normalized


def test_values():
    assert normalized([2, 4]) == [0.5, 1.0]


def test_input_untouched():
    raw = [1, 2, 4]
    normalized(raw)
    assert raw == [1, 2, 4], raw
