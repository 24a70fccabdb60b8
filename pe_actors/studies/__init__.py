"""Studies computed from the library, the way the papers report them: memory per PE, time per PE function,
energy estimates and network-size sweeps (the commands in ``launcher/`` print and plot them)."""
