"""Planned subsystem: see the open issues; nothing here yet."""
