"""Tests of the sensor simulator (simulators.sensors and the simulated driver)."""
