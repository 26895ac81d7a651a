from words import words


def test_punctuation():
    assert words("hi, there!") == ["hi", "there"]


def test_plain():
    assert words("a big cat") == ["a", "big", "cat"]
