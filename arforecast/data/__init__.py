"""The data layer: pandas in (:func:`to_panel`), one Panel through the library, pandas out."""
from arforecast.data.frames import check_horizon, check_min_length, to_panel
from arforecast.data.panel import Layout, Panel

__all__ = ["to_panel", "check_horizon", "check_min_length", "Panel", "Layout"]
