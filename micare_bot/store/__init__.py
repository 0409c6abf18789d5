"""Persistence: schema, migrations, encryption at rest, repositories, audit chain."""
