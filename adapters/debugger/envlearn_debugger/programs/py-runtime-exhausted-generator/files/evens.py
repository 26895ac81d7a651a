def evens(n):
    return (x for x in range(n) if x % 2 == 0)


def summary(n):
    """(count, total) of the even numbers below n."""
    values = evens(n)
    count = sum(1 for _ in values)
    total = sum(values)
    return count, total
