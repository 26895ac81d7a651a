class Inventory:
    """Counts of items in one warehouse."""

    def __init__(self, name, counts={}):
        self.name = name
        self.counts = counts

    def add(self, item, n=1):
        self.counts[item] = self.counts.get(item, 0) + n

    def total(self):
        return sum(self.counts.values())
