from grid import make_grid, set_cell


def test_shape():
    g = make_grid(2, 3)
    assert len(g) == 2 and len(g[0]) == 3


def test_one_cell():
    g = set_cell(make_grid(3, 2), 0, 1, 9)
    assert g == [[0, 9], [0, 0], [0, 0]], g
