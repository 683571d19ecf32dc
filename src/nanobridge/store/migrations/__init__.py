"""Alembic migrations of the nanobridge store (run in code by :func:`nanobridge.store.db.init_db`)."""
