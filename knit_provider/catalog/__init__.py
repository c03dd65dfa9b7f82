"""The catalog: SQLAlchemy tables, engine, migrations and the transactional operations on them."""
