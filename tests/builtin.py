"""What the shipped knowledge base holds, in its order: the tests' expectation of it."""

BUILTIN_PATTERNS = ("online", "batch", "edge", "streaming", "chained")
