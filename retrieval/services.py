"""Writes of retrieval that are not indexing: the admin's embedding settings."""

import logging

from django.db import transaction

from retrieval.embedders import EmbeddingSettings, embedding_settings, model_key_current
from retrieval.models import EmbeddingConfig

logger = logging.getLogger(__name__)


def files_reindex_all() -> int:
    """Queue re-processing of every indexed file (the one place retrieval calls knowledge).

    Imported at call time: knowledge's services import retrieval's indexing."""
    from knowledge.services import files_reprocess_all

    count = files_reprocess_all()
    logger.info("embedding model changed: %d files queued for re-indexing", count)
    return count


@transaction.atomic
def embedding_config_update(
    *,
    engine: str | None = None,
    model: str | None = None,
    openai_base_url: str | None = None,
    openai_api_key: str | None = None,
) -> tuple[EmbeddingSettings, bool]:
    """Store the admin's embedding settings (None: unchanged, "": back to the environment's).

    When the vector space changes (engine or model), every indexed file is re-processed after
    commit; until a file's new chunks commit, searches report it in ``pending_file_ids`` and
    never mix its old vectors with queries of the new model. Returns (settings, reindexing)."""
    before = model_key_current()
    row, _ = EmbeddingConfig.objects.select_for_update().get_or_create(pk=1)
    for name, value in (
        ("engine", engine),
        ("model", model),
        ("openai_base_url", openai_base_url),
        ("openai_api_key", openai_api_key),
    ):
        if value is not None:
            setattr(row, name, value)
    row.save()
    reindex = model_key_current() != before
    if reindex:
        transaction.on_commit(files_reindex_all)
    return embedding_settings(), reindex
