def find(sorted_xs, target):
    """The index of target in sorted_xs, or -1."""
    lo, hi = 0, len(sorted_xs) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if sorted_xs[mid] == target:
            return mid
        if sorted_xs[mid] < target:
            lo = mid
        else:
            hi = mid - 1
    return -1
