"""Django's SQLite backend with its writers queued in the process (see ``base``)."""
