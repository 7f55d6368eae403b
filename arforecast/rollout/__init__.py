"""The rollout engine: multi-step forecasts by feeding predictions back in."""
from arforecast.rollout.decoding import DECODINGS, Decoding
from arforecast.rollout.engine import RolloutResult, path_memory, rollout
from arforecast.rollout.protocol import Context, State, Stepper, map_state

__all__ = ["Context", "State", "Stepper", "map_state", "rollout", "RolloutResult", "path_memory", "Decoding",
           "DECODINGS"]
