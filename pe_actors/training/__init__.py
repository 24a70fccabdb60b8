"""Training: the engine-agnostic trainer with its callbacks and recovery policy, and checkpoints."""
