"""relay: a store-and-forward agent that delivers lab results to a central intake exactly once."""

__version__ = "0.1.0"
