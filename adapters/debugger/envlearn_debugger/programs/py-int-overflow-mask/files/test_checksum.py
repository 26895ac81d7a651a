from checksum import checksum, tag


def test_small():
    assert checksum(b"abc") == 294


def test_big():
    assert checksum(bytes([255]) * 200) == 51000


def test_wraps():
    assert checksum(bytes([255]) * 300) == 76500 % 65536


def test_tag():
    assert tag(b"abc") == "0126"
