"""The store's schema history as Alembic migrations, shipped inside the package and run by cairn itself.

`cairn.store.migrate` applies them: `Store.open` upgrades a store on first use (a SQLite file is copied to
`cairn.db.bak-<UTC time>` first), and `cairn db upgrade` / `cairn db current` do it or tell where a store stands.
`versions/0001_baseline.py` is the schema of the first release with migrations; it also adopts a store made by
the cairn before (tables there, no `alembic_version`) by creating only what that store lacks.

Adding a migration (a new table or column in `store/tables.py`):

1. Make `versions/NNNN_what_it_does.py`: from the repository root,
   `alembic -c src/cairn/store/migrations/alembic.ini revision --rev-id 0005 -m "what it does"` (the previous head,
   `0004` today, becomes its down_revision; `alembic ... current` / `history` read the store named by CAIRN_STORE).
   Write the operations by hand with `op.create_table` / `op.add_column`, copying the declarations from tables.py:
   never import tables.py (it moves on; a migration is frozen in time), and never `Base.metadata.create_all`.
   The tests pin the head revision (HEAD in test_migrations.py): move it with the new one.
2. SQLite cannot ALTER most things: use `with op.batch_alter_table(...)` for anything but ADD COLUMN; cairn runs
   migrations with foreign keys off on SQLite, so the batch copy of a table never cascades deletes.
3. A table that existed before its migration (tables.py is ahead of the migrations: `Store.open` creates such a
   table with `create_all` and logs it, so a development store may already have it) is created only if missing:
   `if not sa.inspect(op.get_bind()).has_table(NAME): op.create_table(...)`.
4. `tests/store/test_migrations.py::test_the_migrations_make_exactly_the_tables` compares the head of the
   migrations with tables.py on SQLite and PostgreSQL: it fails until the migration matches. The tables still
   waiting for one are listed in its `AWAITING_MIGRATION` (empty today): remove them there with their
   migration.
"""
