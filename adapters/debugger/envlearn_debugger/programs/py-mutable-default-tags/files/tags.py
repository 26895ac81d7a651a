def add_tag(tag, tags=[]):
    """A list of tags with `tag` added (a new list unless one is given)."""
    tags.append(tag)
    return tags


def label(name, *tags):
    out = None
    for t in tags:
        out = add_tag(t) if out is None else add_tag(t, out)
    return name + (" [" + ", ".join(out) + "]" if out else "")
