"""Training logic (optimise, save, validate), kept apart from the networks in vsrkit.archs."""
