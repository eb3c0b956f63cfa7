"""Admission: accept or refuse every generation request before it reaches a GPU.

The pure core (`decide`, `routing`, `lane_queue`, `withdrawal`, `priority`, `elastic`) works on
an explicit `AdmissionState` and clock; `agent` is the Faust edge that folds the logs into that
state and publishes the outcomes; `operator` publishes lane degrade/restore commands.
"""
