"""Renderers: one per result family; tables, markdown, JSON, charts."""
