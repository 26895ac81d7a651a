def words(text):
    """The words of a sentence, without trailing punctuation."""
    out = []
    for w in text.split():
        out.append(w[:-1])
    return out
