"""Plain dataclass records passed between stages and stored in the cache.

One module per stage's output; a stage reads another stage's *record*, never its internals.
"""
