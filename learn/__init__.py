"""Training and simulation drivers on top of the generated modules; data sets."""
