def apply_discounts(prices, rules):
    """Each price with every rule (a function) applied in turn; bad rules are skipped."""
    out = []
    for p in prices:
        for rule in rules:
            try:
                p = rule(p)
            except TypeError:
                pass
        out.append(round(p, 2))
    return out


def ten_percent(p):
    return p * 0.9


def minus(amount):
    return lambda p, q: max(0, p - amount)
