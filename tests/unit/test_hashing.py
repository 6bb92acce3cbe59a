from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from relay.hashing import canonical_json, json_hash, row_hash

names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).map(str.strip).filter(bool)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
rows = st.dictionaries(names, values, min_size=1, max_size=8)
pad = st.sampled_from(["", " ", "  ", "\t", " \t "])


@given(rows, st.randoms())
def test_column_order_does_not_change_a_row_hash(row, rnd):
    keys = list(row)
    shuffled = keys[:]
    rnd.shuffle(shuffled)
    assert row_hash(keys, [row[k] for k in keys]) == row_hash(shuffled, [row[k] for k in shuffled])


@given(rows, pad, pad)
def test_whitespace_around_names_and_values_does_not_change_a_hash(row, left, right):
    keys = list(row)
    padded_keys = [f"{left}{k}{right}" for k in keys]
    padded_values = [f"{right}{row[k]}{left}" for k in keys]
    assert row_hash(keys, [row[k] for k in keys]) == row_hash(padded_keys, padded_values)


@given(rows, st.data())
def test_any_change_of_a_value_changes_the_hash(row, data):
    keys = list(row)
    key = data.draw(st.sampled_from(keys))
    new = data.draw(values.filter(lambda v: v.strip() != row[key].strip()))
    changed = {**row, key: new}
    assert row_hash(keys, [row[k] for k in keys]) != row_hash(keys, [changed[k] for k in keys])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=6), st.randoms())
def test_json_key_order_and_whitespace_do_not_change_a_hash(doc, rnd):
    keys = list(doc)
    rnd.shuffle(keys)
    reordered = json.loads(json.dumps({k: doc[k] for k in keys}, indent=3))
    assert json_hash(doc) == json_hash(reordered)


def test_canonical_json_is_compact_sorted_utf8():
    assert canonical_json({"b": 1, "a": "Peña"}) == '{"a":"Peña","b":1}'


def test_flat_json_and_csv_row_of_the_same_result_agree():
    assert json_hash({"Result_ID": "x1", "Patient_last_name": "Peña"}) == row_hash(
        ["Patient_last_name", "Result_ID"], ["Peña ", " x1"])


@given(st.lists(st.text(), min_size=1, max_size=6))
def test_encoded_values_read_back_exactly(values):
    from relay.hashing import decode_values, encode_values

    assert decode_values(encode_values(values)) == values


def test_values_holding_the_separator_stay_unambiguous():
    from relay.hashing import encode_values

    assert encode_values(["a\x1fb", "c"]) != encode_values(["a", "b", "c"])
    assert row_hash(["x", "y"], ["a\x1fb", "c"]) != row_hash(["x", "y"], ["a", "b\x1fc"])


@given(st.lists(st.text(alphabet=st.sampled_from(list("ab \t\x1f\x1e\u00a0,")), max_size=5), min_size=1, max_size=5))
def test_canonical_row_is_the_encoding_of_the_trimmed_values_in_name_order(cells):
    from relay.hashing import RowCanonicalizer, encode_values

    header = [f"c{len(cells) - i}" for i in range(len(cells))]  # names in reverse order of the values
    canonical, digest = RowCanonicalizer(header)(cells)
    assert canonical == encode_values([v.strip() for v in reversed(cells)])
    assert digest == row_hash(list(reversed(header)), list(reversed(cells)))
