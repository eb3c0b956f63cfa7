"""`framegate simulate`: replay recorded traffic through the admission core against other lane set-ups.

The decisions come from `streams.admission` itself (`decide`, `apply`, the folds); this package
only supplies the inputs (history readers, scenario), the simulated lane workers, and the answers.
"""
