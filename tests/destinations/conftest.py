"""Real peers on loopback for the destination tests."""
