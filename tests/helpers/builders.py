"""Small builders for tests: items and a CSV batch body builder that does not depend on delivery."""

from __future__ import annotations

from relay.hashing import decode_values, encode_values, row_hash
from relay.store.models import BatchSpec, Item, NewItem

COLUMNS = ("Result_ID", "Patient_last_name", "Test_result_code")


def new_item(n: int, columns: tuple[str, ...] = COLUMNS) -> NewItem:
    values = [f"id-{n}", f"Name{n}", "260415000"][: len(columns)]
    return NewItem(content_hash=row_hash(columns, values), payload=encode_values(values), tracking_id=values[0],
                   columns=columns, line=n + 1)


def csv_build(items: list[Item]) -> BatchSpec:
    cols = items[0].columns or ()
    lines = [",".join(cols)] + [",".join(decode_values(i.payload or "[]")) for i in items]
    return BatchSpec("text/csv", ("\n".join(lines) + "\n").encode())
