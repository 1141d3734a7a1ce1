"""Scoring-code assets of v1 services: safe unpacking and the v2 code bundle."""
