def page(items, number, size=3):
    """Page `number` (counting from 0) of `items`, `size` items per page."""
    start = number * size + 1
    return items[start : start + size]


def page_count(items, size=3):
    return (len(items) + size - 1) // size
