def grade(score):
    """A letter for a score out of 100: 90 and up is an A, 80 and up a B, ..."""
    if score > 90:
        return "A"
    if score >= 80:
        return "B"
    if score >= 70:
        return "C"
    return "F"
