"""Shared pytest configuration for the whole suite (fixtures shared across folders go here)."""
