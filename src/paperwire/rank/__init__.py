"""Ranking: the trending formula (and, later, recommendations)."""
