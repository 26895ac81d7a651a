USERS = [
    {"username": "ada", "age": 36},
    {"username": "alan", "age": 41},
]


def names(users):
    """The user names, or [] when the records are malformed."""
    try:
        return [u["name"] for u in users]
    except KeyError:
        return []


def oldest(users):
    return max(users, key=lambda u: u["age"])["username"]
