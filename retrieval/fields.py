"""A vector column that is pgvector's ``vector`` on PostgreSQL and float32 bytes elsewhere."""

from typing import Any

import numpy as np
from django.db import models


class EmbeddingField(models.Field):
    """One embedding. PostgreSQL: a ``vector`` of any dimension (each model's HNSW index casts
    to its own dimension); SQLite: a BLOB of little-endian float32 read with numpy."""

    description = "An embedding vector"

    def db_type(self, connection: Any) -> str:
        return "vector" if connection.vendor == "postgresql" else "blob"

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype="<f4")
        if connection.vendor == "postgresql":
            return vector_literal(array)
        return array.tobytes()

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, bytes | memoryview):
            return np.frombuffer(value, dtype="<f4")
        if isinstance(value, str):
            return np.array(value.strip("[]").split(","), dtype=np.float32)
        return np.asarray(value, dtype=np.float32)


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, ``[0.1,0.2,...]``."""
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32)) + "]"
