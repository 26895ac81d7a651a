_cache = {}


def power(base, exp):
    """base ** exp, remembered for speed."""
    if base in _cache:
        return _cache[base]
    result = base**exp
    _cache[base] = result
    return result
