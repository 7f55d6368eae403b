"""Forecasting models: baselines, linear AR, neural AR."""
