def window_sums(xs, k):
    """The sums of every run of k consecutive numbers, left to right."""
    sums = []
    for start in range(len(xs) - k):
        sums.append(sum(xs[start : start + k]))
    return sums
