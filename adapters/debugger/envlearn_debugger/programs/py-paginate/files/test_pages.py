from pages import page, page_count

ITEMS = list("abcdefgh")


def test_first_page():
    assert page(ITEMS, 0) == ["a", "b", "c"]


def test_last_page():
    assert page(ITEMS, 2) == ["g", "h"]


def test_count():
    assert page_count(ITEMS) == 3
