"""The `aigw` command: run the suite, the simulator, and administer tokens, models and features."""
