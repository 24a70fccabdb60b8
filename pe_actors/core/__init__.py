"""What every rule shares: the optimiser (ADAM in the TensorFlow 1 form, L2, the step schedule) and the partition of a
layer's neurons over PEs."""
