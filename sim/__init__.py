"""Simulator: synthetic DAS fiber data, scenario sets and the interrogator emulator."""
