"""`framegate demo`: the embedded stack and a scenario that shows the whole contract."""
