"""The exported JSON Schema of `GenerationRequest` accepts exactly what validation accepts.

Requests are generated two ways: from the exported schema itself (every property drawn from its
own subschema, from the values its `allOf` rules mention, and from just outside both), and from
the model's own constants (`MODEL_CONSTRAINTS`, `FRAME_COUNTS`, the side bounds). For each one,
"valid by the schema" must equal "accepted by `GenerationRequest`". Every document is sent as
JSON text in which integers are spelled any way JSON allows (`1216`, `1216.0`, `1.216e3`, `-0`,
...), some with a fraction (`1216.5`): JSON Schema `integer` is a number with a zero fraction,
whatever its spelling, and the server must read it so too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import jsonschema_rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.constraints import MODEL_CONSTRAINTS
from schemas.enums import ModelName, TaskType
from schemas.export import json_schema
from schemas.requests import (
    FRAME_COUNTS,
    MAX_FRAMES,
    MAX_SIDE,
    MIN_SIDE,
    SIDE_MULTIPLE,
    GenerationRequest,
)
from tests import factories

SCHEMA: dict[str, Any] = json_schema(GenerationRequest)
#: jsonschema-rs: ECMA-262 regexes (`$` is the end of input) and asserted formats.
VALIDATOR = jsonschema_rs.validator_for(SCHEMA, validate_formats=True)
PROPERTIES: dict[str, dict[str, Any]] = SCHEMA["properties"]
REQUIRED = set(SCHEMA["required"])
#: Values of the wrong JSON type.
WRONG_TYPES = st.sampled_from(["8", 8.5, True, [], {}, "", -1])
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def schema_valid(document: str) -> bool:
    """What a producer's validator says: it sees the document as its JSON parser reads it."""
    return bool(VALIDATOR.is_valid(json.loads(document)))


def accepted(document: str) -> bool:
    try:
        GenerationRequest.model_validate_json(document)
    except ValidationError:
        return False
    return True


# --- spelled as JSON text -------------------------------------------------------------------------


def _integral_spellings(n: int) -> list[str]:
    """JSON numbers equal to `n`: a fraction of zero, an exponent, a shifted decimal point."""
    sign, digits = ("-" if n < 0 else ""), str(abs(n))
    spellings = [str(n), f"{n}.0", f"{n}.000", f"{n}e0", f"{n}E+0",
                 f"{sign}{digits[0]}.{digits[1:] or '0'}e{len(digits) - 1}"]
    if n == 0:
        spellings += ["-0", "-0.0", "-0e3", "0e-2", "0.0E5"]
    else:
        spellings.append(f"{n}0e-1")  # JSON allows no leading zero: not for 0
    return spellings


def _spelling(n: int) -> st.SearchStrategy[str]:
    fractions = [f"{n}.5", f"{n}.0001", f"{n * 10 + 5}e-1"]
    return _mostly(5).flatmap(
        lambda integral: st.sampled_from(_integral_spellings(n) if integral else fractions)
    )


@st.composite
def spelled(draw: st.DrawFn, instances: st.SearchStrategy[dict[str, Any]]) -> str:
    """One document as JSON text, each integer (not a boolean) spelled one of the ways above."""
    instance = draw(instances)
    spellings: dict[str, str] = {}
    for name, value in list(instance.items()):
        if type(value) is int:
            token = f"@@{len(spellings)}@@"
            spellings[json.dumps(token)] = draw(_spelling(value))
            instance[name] = token
    document = json.dumps(instance)
    for token, spelling in spellings.items():
        document = document.replace(token, spelling)
    return document


# --- generated from the schema ----------------------------------------------------------------


def _resolve(sub: dict[str, Any]) -> dict[str, Any]:
    ref = sub.get("$ref")
    if ref is None:
        return sub
    return dict(SCHEMA["$defs"][ref.rsplit("/", 1)[-1]])


def _mentioned(name: str) -> list[Any]:
    """Values the schema's `allOf` rules pin for property `name` (`const` / `enum`)."""
    found: list[Any] = []
    for rule in SCHEMA.get("allOf", []):
        for part in (rule.get("if", {}), rule.get("then", {})):
            sub = part.get("properties", {}).get(name, {})
            found += [sub["const"]] if "const" in sub else list(sub.get("enum", []))
    return found


def _date_times(aware: bool) -> st.SearchStrategy[Any]:
    """RFC 3339 date-times with an offset, or (outside) naive ones and bare Unix timestamps."""
    low, high = datetime(2000, 1, 1), datetime(2100, 1, 1)
    if aware:
        zones: st.SearchStrategy[tzinfo] = st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30))]
        )
        return st.datetimes(low, high, timezones=zones).map(datetime.isoformat)
    return st.one_of(
        st.datetimes(low, high).map(datetime.isoformat), st.integers(0, 2**31), st.floats(0, 2e9)
    )


def _from_subschema(sub: dict[str, Any], inside: bool) -> st.SearchStrategy[Any]:
    """Values the subschema allows (`inside`), or values just outside it."""
    sub = _resolve(sub)
    if "anyOf" in sub:
        return st.one_of(*[_from_subschema(branch, inside) for branch in sub["anyOf"]])
    if "enum" in sub or "const" in sub:
        allowed = sub.get("enum", [sub.get("const")])
        return st.sampled_from(allowed) if inside else st.sampled_from(["", "other", 0])
    kind = sub.get("type")
    if kind == "null":
        return st.none() if inside else WRONG_TYPES
    if kind == "integer":
        low, high = sub.get("minimum", -(2**40)), sub.get("maximum", 2**40)
        step = sub.get("multipleOf", 1)
        if inside:
            return st.integers(-(-low // step), high // step).map(lambda k: k * step)
        return st.one_of(
            st.integers(low - 3, low - 1), st.integers(high + 1, high + 3),
            st.integers(low, high).filter(lambda n: n % step != 0) if step > 1 else st.nothing(),
        )
    if kind == "number":
        low, high = sub.get("minimum", -1e6), sub.get("maximum", 1e6)
        if inside:
            return st.one_of(st.floats(low, high), st.sampled_from([low, high, 1.0]))
        return st.one_of(st.floats(high, high + 1, exclude_min=True), st.floats(low - 1, low, exclude_max=True))
    if kind == "string":
        if sub.get("format") == "date-time":
            return _date_times(aware=inside)
        low, high = sub.get("minLength", 0), sub.get("maxLength", 64)
        if "pattern" in sub:
            if inside:
                return st.from_regex(sub["pattern"]).filter(lambda t: low <= len(t) <= high)
            return st.one_of(st.just(""), st.just("has space"), st.text(min_size=high + 1, max_size=high + 1))
        if inside:
            return st.one_of(st.text(min_size=low, max_size=min(high, 12)), st.text(min_size=high, max_size=high))
        return st.one_of(st.text(min_size=high + 1, max_size=high + 1), st.just("")) if low else st.text(
            min_size=high + 1, max_size=high + 1)
    raise AssertionError(f"a subschema this generator does not know: {sub}")


def _property_strategy(name: str) -> st.SearchStrategy[Any]:
    inside = _from_subschema(PROPERTIES[name], inside=True)
    pinned = _mentioned(name)
    if pinned:
        inside = st.one_of(st.sampled_from(pinned), inside)
    outside = st.one_of(_from_subschema(PROPERTIES[name], inside=False), WRONG_TYPES)
    return _mostly(11).flatmap(lambda keep_inside: inside if keep_inside else outside)


def _mostly(n: int) -> st.SearchStrategy[bool]:
    """True n times in n+1; True is listed first, so it is also what Hypothesis shrinks to."""
    return st.sampled_from([True] * n + [False])


@st.composite
def from_the_schema(draw: st.DrawFn) -> dict[str, Any]:
    instance: dict[str, Any] = {}
    for name in PROPERTIES:
        if draw(_mostly(29 if name in REQUIRED else 3)):
            instance[name] = draw(_property_strategy(name))
    if not draw(_mostly(29)):
        instance["unexpected"] = 1
    return instance


# --- generated from the models ----------------------------------------------------------------


@st.composite
def from_the_models(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(list(ModelName)))
    base = json.loads(factories.request(model).to_wire())
    pinned = MODEL_CONSTRAINTS[draw(st.sampled_from(list(ModelName)))]
    sides = st.one_of(
        st.integers(MIN_SIDE // SIDE_MULTIPLE, MAX_SIDE // SIDE_MULTIPLE).map(
            lambda k: k * SIDE_MULTIPLE
        ),
        st.integers(0, MAX_SIDE + SIDE_MULTIPLE),
    )
    candidates: dict[str, st.SearchStrategy[Any]] = {
        "steps": st.one_of(st.just(pinned.fixed_steps), st.integers(0, 101)),
        "cfg": st.one_of(st.just(pinned.fixed_cfg), st.none(), st.floats(-1, 21, allow_nan=False)),
        "width": sides,
        "height": sides,
        "num_frames": st.one_of(st.sampled_from(FRAME_COUNTS), st.integers(0, MAX_FRAMES + 4)),
        "type": st.sampled_from([t.value for t in TaskType]),
        "input_image": st.one_of(st.none(), st.just("file:///in.png"), st.just("")),
        "fps": st.integers(0, 61),
        "seed": st.one_of(st.none(), st.integers(-1, 2**32)),
    }
    for name in draw(st.sets(st.sampled_from(sorted(candidates)), max_size=4)):
        if draw(st.integers(0, 4)) == 0:
            base.pop(name, None)
        else:
            base[name] = draw(candidates[name])
    return base


# --- the property -----------------------------------------------------------------------------


def _agree(strategy: st.SearchStrategy[dict[str, Any]]) -> Counter[bool]:
    seen: Counter[bool] = Counter()

    @SETTINGS
    @given(spelled(strategy))
    def check(document: str) -> None:
        valid = schema_valid(document)
        assert valid == accepted(document), (
            f"schema says {'valid' if valid else 'invalid'}, validation says the opposite: "
            f"{document}"
        )
        seen[valid] += 1

    check()
    return seen


def test_schema_generated_requests_agree() -> None:
    seen = _agree(from_the_schema())
    # both sides of the equivalence were exercised, not only refusals
    assert seen[True] > 0 and seen[False] > 0, seen


def test_model_generated_requests_agree() -> None:
    seen = _agree(from_the_models())
    assert seen[True] > 0 and seen[False] > 0, seen


def _issue_examples() -> Iterator[tuple[dict[str, Any], str]]:
    good = json.loads(factories.request(ModelName.anisora, cfg=None).to_wire())
    yield {**good, "steps": 4}, "steps"
    yield {**good, "width": 840}, "width"
    yield {**good, "num_frames": 80}, "num_frames"
    yield {k: v for k, v in good.items() if k != "input_image"}, "input_image"
    yield {**json.loads(factories.request(ModelName.phr00t).to_wire()), "cfg": 3.0}, "cfg"


def test_what_admission_refused_the_schema_refuses_and_errors_name_the_field() -> None:
    for instance, field in _issue_examples():
        assert not schema_valid(json.dumps(instance)), instance
        try:
            GenerationRequest.model_validate_json(json.dumps(instance))
        except ValidationError as exc:
            assert [err["loc"] for err in exc.errors()] == [(field,)]
        else:
            raise AssertionError(f"accepted {instance}")


def test_integral_numbers_are_integers_and_a_fraction_is_refused_precisely() -> None:
    good = json.loads(factories.request(ModelName.anisora, cfg=None, seed=0).to_wire())
    text = json.dumps({**good, "height": "@@h@@", "seed": "@@s@@"})
    for height, seed in (("1216.0", "-0"), ("1.216e3", "-0.0"), ("12160e-1", "0e3")):
        document = text.replace('"@@h@@"', height).replace('"@@s@@"', seed)
        assert schema_valid(document)
        request = GenerationRequest.model_validate_json(document)
        assert (request.height, request.seed) == (1216, 0)
        assert type(request.height) is int and type(request.seed) is int
    document = text.replace('"@@h@@"', "1216.5").replace('"@@s@@"', "0")
    assert not schema_valid(document)
    try:
        GenerationRequest.model_validate_json(document)
    except ValidationError as exc:
        assert [(e["loc"], e["type"]) for e in exc.errors()] == [(("height",), "int_from_float")]
        assert "fractional part" in exc.errors()[0]["msg"]
    else:
        raise AssertionError("1216.5 accepted as a height")
