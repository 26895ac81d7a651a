def make_grid(rows, cols, fill=0):
    """A rows x cols grid of independent cells."""
    return [[fill] * cols] * rows


def set_cell(grid, r, c, value):
    grid[r][c] = value
    return grid
