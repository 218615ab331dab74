"""The per-process snapshot of connections and custom model ids (llm.snapshot)."""

from typing import Any

import pytest
from django.core.cache import cache

from llm.models import Connection, CustomModel
from llm.snapshot import GENERATION_KEY, config_snapshot
from users.models import User

pytestmark = pytest.mark.django_db


def test_the_snapshot_is_reused_while_nothing_changes(django_assert_num_queries: Any) -> None:
    config_snapshot()

    with django_assert_num_queries(0):
        again = config_snapshot()

    assert again is config_snapshot()


def test_saving_or_deleting_a_connection_or_custom_model_is_seen_at_once(owner: User) -> None:
    before = config_snapshot()

    connection = Connection.objects.create(name="late", base_url="http://127.0.0.1:9/v1")
    with_connection = config_snapshot()
    model = CustomModel.objects.create(model_id="late-model", base_model="mock", owner=owner)
    with_model = config_snapshot()
    connection.enabled = False
    connection.save()
    disabled = config_snapshot()
    model.delete()
    without_model = config_snapshot()

    assert f"db:{connection.pk}" not in [u.key for u in before.upstreams]
    assert f"db:{connection.pk}" in [u.key for u in with_connection.upstreams]
    assert "late-model" in with_model.custom_model_ids
    assert f"db:{connection.pk}" not in [u.key for u in disabled.upstreams]
    assert "late-model" not in without_model.custom_model_ids


def test_another_process_changing_the_generation_makes_this_one_read_again(
    owner: User,
) -> None:
    """Another process saving a model moves the shared generation; rows written here behind
    the models' back (bulk_create sends no signal) stand in for its write."""
    config_snapshot()
    CustomModel.objects.bulk_create(
        [CustomModel(model_id="elsewhere", base_model="mock", owner=owner)]
    )
    unchanged = config_snapshot()

    cache.set(GENERATION_KEY, "another-process-saved-something", timeout=None)
    moved = config_snapshot()

    assert "elsewhere" not in unchanged.custom_model_ids
    assert "elsewhere" in moved.custom_model_ids
