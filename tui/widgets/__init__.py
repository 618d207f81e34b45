"""Widgets shared by the inspector's screens."""
