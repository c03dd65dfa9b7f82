"""The DAGs Knit generates (the generator and one per Plan), built from the sensors and operators below it."""
