from shop import apply_discounts, minus, ten_percent


def test_both_rules():
    assert apply_discounts([100.0], [ten_percent, minus(5)]) == [85.0]


def test_none():
    assert apply_discounts([3.5], []) == [3.5]
