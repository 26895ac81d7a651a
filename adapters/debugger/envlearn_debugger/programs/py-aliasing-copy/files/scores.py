def normalized(scores):
    """Scores scaled so the best is 1.0 (the input list is left as it was)."""
    out = scores
    best = max(scores)
    for i, s in enumerate(out):
        out[i] = s / best
    return out
