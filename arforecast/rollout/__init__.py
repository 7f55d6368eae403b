"""The rollout engine: multi-step forecasts by feeding predictions back in."""
from arforecast.rollout.protocol import Context, State, Stepper, map_state

__all__ = ["Context", "State", "Stepper", "map_state"]
