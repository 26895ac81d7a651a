from tags import add_tag, label


def test_fresh_lists():
    first = add_tag("a")
    second = add_tag("b")
    assert second == ["b"], second


def test_given_list():
    assert add_tag("y", ["x"]) == ["x", "y"]


def test_label():
    assert label("job", "urgent") == "job [urgent]"
