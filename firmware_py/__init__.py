"""MicroPython-compatible relay-controller firmware."""
