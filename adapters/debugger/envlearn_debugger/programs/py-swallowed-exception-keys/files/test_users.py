from users import USERS, names, oldest


def test_names():
    assert names(USERS) == ["ada", "alan"]


def test_oldest():
    assert oldest(USERS) == "alan"


def test_malformed():
    assert names([{"id": 1}]) == []
