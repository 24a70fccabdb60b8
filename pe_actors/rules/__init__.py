"""The learning rules, side by side: each is a network description, its numerics and its PE program."""
