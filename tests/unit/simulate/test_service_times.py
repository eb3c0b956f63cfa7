"""Service times of simulated jobs: own run, else a draw from the same shape, else the model's runs."""

from __future__ import annotations

from schemas import ModelName
from streams.simulate import synthetic
from streams.simulate.service_times import JobShape, Run, ServiceTimes, cost


def seconds(times: ServiceTimes, task_id: str, request: JobShape, shape_known: bool = True) -> float:
    return times.seconds_of(task_id, request.model, request.width, request.height, request.num_frames,
                            request.steps, shape_known)


def test_a_job_that_never_ran_draws_from_its_shape_once_one_is_recorded() -> None:
    small = synthetic.template(ModelName.anisora, "small")
    big = small.model_copy(update={"width": 1280, "height": 720})
    times = ServiceTimes({"a": Run(2.0, cost(small)), "b": Run(4.0, None), "p": Run(1.0, None)},
                         {"a": "anisora", "b": "anisora", "p": "phr00t"}, seed=3)
    # No run of this shape: the model's runs, each scaled by cost when its own is known.
    drawn = {seconds(times, "new", big) for _ in range(40)}
    assert drawn == {2.0 * cost(big) / cost(small), 4.0}
    # A run of the shape recorded later is what the next draws come from.
    times.add_shape("anisora", big, 9.0)
    assert {seconds(times, "new", big) for _ in range(10)} == {9.0}
    # Its own run, scaled to the job as simulated; as recorded when the size is unknown.
    assert seconds(times, "a", big) == 2.0 * cost(big) / cost(small)
    assert seconds(times, "a", big, shape_known=False) == 2.0


def test_the_draws_are_seeded() -> None:
    request = synthetic.template(ModelName.phr00t, "x")

    def draws() -> list[float]:
        times = ServiceTimes({f"r{i}": Run(float(i), None) for i in range(9)}, {f"r{i}": "phr00t" for i in range(9)},
                             seed=5)
        return [seconds(times, f"t{i}", request) for i in range(30)]

    assert draws() == draws() and len(set(draws())) > 1
