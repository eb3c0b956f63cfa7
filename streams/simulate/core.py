"""The one place the simulator calls the admission core: an arrival's facts in, a `Verdict` out.

The same core the agent runs (`streams.admission.core`), fed facts directly: a recorded request
is read into facts once at the edge (`ingest`), and a synthetic one is made as facts.
"""

from __future__ import annotations

from dataclasses import replace

from schemas import DEGRADED_QUEUE_POLICY, DegradedQueuePolicy, SourceRecord
from schemas.settings import Settings
from streams.admission import core
from streams.admission.core.facts import RequestFacts, UnparsedFacts
from streams.admission.ingest import request_facts
from streams.admission.parsing import parse
from streams.admission.state import (
    AdmissionConfig,
    AdmissionState,
    config_from_settings,
    queue_limits,
)
from streams.simulate.history import Arrival, History
from streams.simulate.reconstruct import AUTHORISED_PRODUCER


def simulation_config(settings: Settings) -> AdmissionConfig:
    """The agent's config, plus the stand-in producer reconstructed critical requests carry."""
    config = config_from_settings(settings)
    return replace(config, critical_producers=config.critical_producers | {AUTHORISED_PRODUCER})


def new_state(settings: Settings, policy: DegradedQueuePolicy = DEGRADED_QUEUE_POLICY) -> AdmissionState:
    """A fresh core state; `policy` other than the contract's only for what-if runs."""
    return AdmissionState(config=replace(simulation_config(settings), queue_policy=queue_limits(policy)))


def arrival_facts(arrival: Arrival, topic: str) -> RequestFacts | UnparsedFacts | None:
    """What the core decides of an arrival; None for a carried-over input rejection."""
    if arrival.facts is not None:
        return arrival.facts
    source = SourceRecord(topic=topic, partition=arrival.partition, offset=arrival.offset)
    if arrival.payload is not None:
        parsed = parse(arrival.payload, source, arrival.at)
        return parsed if isinstance(parsed, UnparsedFacts) else request_facts(parsed, source, arrival.at)
    if arrival.request is not None:
        return request_facts(arrival.request, source, arrival.at)
    return None


def read_once(history: History, topic: str) -> History:
    """`history` with each request read into its arrival's facts: every run of one history (the
    modelled set-up, each scenario, each search probe) decides the same facts, so they are read
    (parsed and validated) once, not once per run. An arrival with no request (bad bytes, a
    carried-over rejection) is left as it is: it is read where it is decided, as before."""
    arrivals = [replace(a, facts=arrival_facts(a, topic)) if a.facts is None and a.request is not None else a
                for a in history.arrivals]
    return replace(history, arrivals=arrivals)


def decide_arrival(state: AdmissionState, arrival: Arrival, topic: str,
                   facts: RequestFacts | UnparsedFacts | None = None) -> core.Verdict | None:
    """Decide and fold one arrival; None for a carried-over input rejection (nothing to decide)."""
    facts = facts if facts is not None else arrival_facts(arrival, topic)
    if facts is None:
        return None
    at = arrival.epoch()
    if isinstance(facts, UnparsedFacts):
        verdict = core.decide_unparsed(state, facts, at)
    else:
        verdict = core.decide(state, facts, at)
    core.apply(state, verdict)
    return verdict
