import io
from contextlib import redirect_stdout

from runmax import main, running_max


def test_running():
    assert running_max([3, 1, 4, 1, 5]) == [3, 3, 4, 4, 5]


def test_main_output():
    buf = io.StringIO()
    with redirect_stdout(buf):
        main(["3", "1", "4"])
    assert buf.getvalue() == "3 3 4\nmax: 4\n", buf.getvalue()
