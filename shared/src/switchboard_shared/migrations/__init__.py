"""The kit's Alembic environment (env.py, script.py.mako) and its own revisions (versions/)."""
