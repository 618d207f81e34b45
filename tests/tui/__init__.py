"""Tests of the Textual inspector (tui/)."""
