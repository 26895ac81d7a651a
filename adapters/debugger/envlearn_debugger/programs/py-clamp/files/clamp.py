def clamp(x, low, high):
    """x limited to the range [low, high]."""
    if x < low:
        return low
    if x > high:
        return low
    return x
