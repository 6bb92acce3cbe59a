"""Items offered together are added by chunks: duplicates are found across chunks of one call."""

from __future__ import annotations

from relay.store.models import NewItem
from relay.store.outbox import ADD_CHUNK, Outbox
from tests.helpers.builders import new_item

T0 = 1_767_225_600.0


def test_a_copy_in_a_later_chunk_of_the_same_call_is_a_duplicate(tmp_path):
    items = [new_item(n) for n in range(ADD_CHUNK * 2 + 10)]
    items.insert(ADD_CHUNK + 5, items[3])  # in the second chunk, a copy of an item of the first
    items.append(NewItem(content_hash="big", payload="x" * (2 * 1024 * 1024)))  # a chunk of its own size
    with Outbox(tmp_path / "o.db") as box:
        result = box.add_items(items, source="listener", client="c", now=T0)
        assert result.duplicate.count(True) == 1 and result.duplicate[ADD_CHUNK + 5]
        assert result.ids[ADD_CHUNK + 5] == result.ids[3]
        assert box.count_items() == len(items) - 1
        assert len(set(result.ids)) == len(items) - 1
        assert box.get_item(result.ids[-1]).payload == "x" * (2 * 1024 * 1024)
