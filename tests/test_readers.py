"""What the For-you tab keeps per reader (store.readers), on both backends: topics (kept in
order, the same words once, at most MAX_TOPICS) and visits (views less than VISIT_GAP apart
are one visit; "since your last visit" starts where the one before ended)."""

from __future__ import annotations

from datetime import datetime, timedelta

from paperwire.store.readers import MAX_TOPICS, VISIT_GAP

from .webkit import add_user

T0 = datetime(2026, 12, 1, 9, 0)


def test_topics_are_kept_once_in_order_and_capped(store):
    ada, bob = add_user(store, "ada"), add_user(store, "bob")
    assert store.readers.topics(ada) == []
    assert store.readers.add_topic(ada, "crowd counting") == "added"
    assert store.readers.add_topic(ada, "Crowd Counting") == "exists"
    assert store.readers.add_topic(ada, "gaussian splatting") == "added"
    assert store.readers.add_topic(bob, "crowd counting") == "added"  # another reader's own
    assert store.readers.topics(ada) == ["crowd counting", "gaussian splatting"]
    for i in range(MAX_TOPICS - 2):
        assert store.readers.add_topic(ada, f"topic {i}") == "added"
    assert store.readers.add_topic(ada, "one too many") == "full"
    assert len(store.readers.topics(ada)) == MAX_TOPICS
    assert store.readers.remove_topic(ada, "crowd counting") is True
    assert store.readers.remove_topic(ada, "crowd counting") is False
    assert "crowd counting" not in store.readers.topics(ada)
    both = store.readers.topics_of([ada, bob, 999])
    assert both[bob] == ["crowd counting"] and both[999] == [] and len(both[ada]) == MAX_TOPICS - 1


def test_a_visit_is_views_close_together_and_since_is_where_the_last_ended(store):
    ada = add_user(store, "ada")
    assert store.readers.visit(ada, T0) is None  # the first visit: nothing before
    assert store.readers.visit(ada, T0 + timedelta(minutes=10)) is None  # the same visit
    assert store.readers.visit(ada, T0 + timedelta(minutes=25)) is None
    later = T0 + timedelta(minutes=25) + VISIT_GAP + timedelta(minutes=1)
    assert store.readers.visit(ada, later) == T0 + timedelta(minutes=25)  # a new visit
    # paging through it keeps its start
    assert store.readers.visit(ada, later + timedelta(minutes=5)) == T0 + timedelta(minutes=25)
    next_day = later + timedelta(days=1)
    assert store.readers.visit(ada, next_day) == later + timedelta(minutes=5)


def test_a_deleted_account_leaves_no_topics_and_the_export_holds_them(store):
    ada = add_user(store, "ada")
    store.readers.add_topic(ada, "crowd counting")
    store.readers.visit(ada, T0)
    exported = store.people.export(ada)
    assert [t["topic"] for t in exported["topics"]] == ["crowd counting"]
    assert store.people.delete(ada) is True
    assert store.readers.topics(ada) == []
    assert store.readers.visit(ada, T0 + timedelta(days=1)) is None  # (no visit kept either)
