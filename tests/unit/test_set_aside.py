"""The pure rules of setting a webhook event aside (bot/set_aside.py, bot.webhook.parse_batch)."""

from __future__ import annotations

import json

import pytest

from bot.set_aside import (
    LONE_SURROGATE, NON_FINITE, NUL_CHARACTER, SetAside, kind_counts, storable_text, unstorable, validation_reason,
)
from bot.webhook import BatchRejected, parse_batch

OPEN = {"event": "open", "time": 1_795_000_000, "MessageID": 5, "email": "a@example.com"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("plain", None),
        ("zoë 😀", None),
        ({"k": ["deep", {"deeper": "nul \x00"}]}, NUL_CHARACTER),
        ({"key \x00": 1}, NUL_CHARACTER),
        (["lone \ud800"], LONE_SURROGATE),
        ({"\udfff": 1}, LONE_SURROGATE),
        ({"n": 1, "f": 1.5, "b": True, "none": None}, None),
    ],
)
def test_unstorable_finds_nul_and_lone_surrogates_anywhere(value, reason):
    found = unstorable(value)
    assert (found[0] if found else None) == reason


def test_storable_text_writes_the_offending_values_out_and_keeps_the_rest():
    value = {"a\x00": ["x\x00y", "lone \ud800", float("inf"), float("-inf"), 1.5, "zoë 😀", None, True]}
    text = storable_text(value)
    text.encode("utf-8")                                   # no surrogate left
    assert "\\u0000" in text and json.loads(text) == {
        "a\\u0000": ["x\\u0000y", "lone \\ud800", "inf", "-inf", 1.5, "zoë 😀", None, True]}
    assert unstorable(json.loads(text)) is None


def test_storable_text_of_something_nested_too_deeply_is_still_json():
    value: list = []
    for _ in range(5000):
        value = [value]
    assert json.loads(storable_text(value)) == {"set_aside_note": "nested too deeply to keep; see the reason"}


def test_validation_reason_names_fields_and_kinds_carry_no_value():
    reason, kinds = validation_reason([
        {"field": "time", "error": "Input should be a valid integer", "type": "int_parsing"},
        {"field": None, "error": "Input tag 'user@example.com' found using 'event' does not match" + "x" * 500,
         "type": "union_tag_invalid"},
    ])
    assert reason.startswith("time: Input should be a valid integer; Input tag 'user@example.com'")
    assert len(reason) < 300 and reason.endswith("…")
    assert kinds == ("time:int_parsing", "item:union_tag_invalid")
    items = [SetAside(0, reason, kinds, None), SetAside(1, reason, ("time:int_parsing",), None)]
    assert kind_counts(items) == {"time:int_parsing": 2, "item:union_tag_invalid": 1}


def test_parse_batch_sorts_a_batch_into_events_and_set_aside_ones():
    body = json.dumps([
        OPEN,
        {**OPEN, "time": "soon"},
        {**OPEN, "MessageID": 6, "agent": "nul \x00"},
        {**OPEN, "MessageID": 7, "agent": "zoë 😀"},
        "not an event",
        {**OPEN, "MessageID": 8, "x": "HUGE"},
    ]).replace('"HUGE"', "1e400").encode()
    batch = parse_batch(body)
    assert batch.received == 6
    assert [(item.position, item.event.MessageID) for item in batch.events] == [(0, 5), (3, 7)]
    assert json.loads(batch.events[1].raw)["agent"] == "zoë 😀"
    assert [(item.position, item.kinds) for item in batch.set_aside] == [
        (1, ("time:int_parsing",)), (2, ("value:nul_character",)), (4, ("item:model_attributes_type",)),
        (5, ("value:non_finite",))]
    assert batch.set_aside[3].reason == NON_FINITE
    assert batch.set_aside[1].raw["agent"] == "nul \x00"   # as received; storable_text escapes it


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b'[{"event": "open", "time": NaN}]', "not valid JSON"),
        (json.dumps(OPEN).encode(), "Version 2"),
        (b'"a string"', "Version 2"),
        (b"42", "Version 2"),
    ],
)
def test_only_a_body_that_is_not_a_json_array_is_refused(body, fragment):
    with pytest.raises(BatchRejected) as caught:
        parse_batch(body)
    assert fragment in caught.value.message


def test_an_empty_array_is_an_empty_batch():
    batch = parse_batch(b"[]")
    assert (batch.events, batch.set_aside, batch.received) == ([], [], 0)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        # A UTF-8 body whose bytes encode a surrogate (json.loads decodes with surrogatepass).
        (b'[{"event":"open","time":1,"MessageID":1,"email":"a\xed\xa0\x80b"}]', "value:lone_surrogate"),
        # A UTF-16 body (json.loads detects it): its escapes are not the bytes `\u`.
        ('[{"event":"open","time":1,"MessageID":1,"email":"a\\u0000b"}]'.encode("utf-16"), "value:nul_character"),
        ('[{"event":"open","time":1,"MessageID":1,"email":"a\\ud800b"}]'.encode("utf-32-le"), "value:lone_surrogate"),
        (b'\xef\xbb\xbf[{"event":"open","time":1,"MessageID":1,"email":"a\\u0000b"}]', "value:nul_character"),
    ],
)
def test_the_fast_path_never_skips_a_body_that_can_hold_an_unstorable_value(body, kind):
    batch = parse_batch(body)
    assert batch.events == [] and [item.kinds for item in batch.set_aside] == [(kind,)]


def test_a_plain_ascii_or_utf8_body_needs_no_scan_and_is_stored_as_is():
    body = json.dumps([{**OPEN, "agent": "zoë 😀"}], ensure_ascii=False).encode()
    assert b"\\u" not in body
    batch = parse_batch(body)
    assert batch.set_aside == [] and json.loads(batch.events[0].raw)["agent"] == "zoë 😀"
