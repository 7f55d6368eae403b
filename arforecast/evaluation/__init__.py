"""Evaluation: metrics and backtests."""
