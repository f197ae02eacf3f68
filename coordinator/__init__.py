"""Coordinator node: announces itself, assigns tasks by the market rules, verifies, settles (market issue)."""
