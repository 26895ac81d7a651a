def by_size(files):
    """File names sorted by size, smallest first; sizes are strings like '12'."""
    return [name for name, size in sorted(files.items(), key=lambda kv: kv[1])]
