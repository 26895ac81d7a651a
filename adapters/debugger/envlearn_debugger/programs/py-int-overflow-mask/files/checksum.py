def checksum(data):
    """A 16-bit checksum: the byte sum, kept to 16 bits as it grows."""
    total = 0
    for b in data:
        total = (total + b) & 0x7FFF
    return total


def tag(data):
    return f"{checksum(data):04x}"
