"""framegate's streaming half: admission, lane-state projection, audit sink, gateway, CLI."""
