"""The one place the simulator calls the admission core: a request record in, a `Decision` out.

The same `decide_record` the agent runs, without its Kafka and metrics edges.
"""

from __future__ import annotations

from dataclasses import replace

from schemas import DEGRADED_QUEUE_POLICY, DegradedQueuePolicy, SourceRecord
from schemas.settings import Settings
from streams.admission.decide import Decision, apply, decide
from streams.admission.record import decide_record
from streams.admission.state import AdmissionConfig, AdmissionState, config_from_settings
from streams.simulate.history import Arrival
from streams.simulate.reconstruct import AUTHORISED_PRODUCER


def simulation_config(settings: Settings) -> AdmissionConfig:
    """The agent's config, plus the stand-in producer reconstructed critical requests carry."""
    config = config_from_settings(settings)
    return replace(config, critical_producers=config.critical_producers | {AUTHORISED_PRODUCER})


def new_state(settings: Settings, policy: DegradedQueuePolicy = DEGRADED_QUEUE_POLICY) -> AdmissionState:
    """A fresh core state; `policy` other than the contract's only for what-if runs."""
    return AdmissionState(config=replace(simulation_config(settings), queue_policy=policy))


def decide_arrival(state: AdmissionState, arrival: Arrival, topic: str) -> Decision | None:
    """Decide and fold one arrival; None for a carried-over input rejection (nothing to decide)."""
    source = SourceRecord(topic=topic, partition=arrival.partition, offset=arrival.offset)
    if arrival.payload is not None:
        outcome = decide_record(state, arrival.payload, source, arrival.at)
    elif arrival.request is not None:
        outcome = decide(state, arrival.request, arrival.at, source)
    else:
        return None
    apply(state, outcome)
    return outcome
