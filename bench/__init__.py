"""Load generators that compare a call through aigw with the same call made directly."""
