"""Reports of runs: training curves and the figures and files they are drawn into."""
