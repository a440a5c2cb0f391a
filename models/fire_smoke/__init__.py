"""The synthetic fire / smoke / flood detector: simulated data, network, training, export and evaluation."""
