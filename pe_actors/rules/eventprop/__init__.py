"""EventProp (paper 001): exact adjoint gradients of a feed-forward LIF network, off-chip and as a PE program with
spike packets up and sparse error packets down (docs/eventprop.md)."""
