from .labels import Label
def plan(world): pass
def bind(world): pass
class Injector:
    def __init__(self, world, *a): self.world=world
    def day(self, day): pass
    def labels(self): return []
    def cloud_benign_labels(self): return []
