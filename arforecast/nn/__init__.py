"""Neural building blocks: backbones, heads, training."""
