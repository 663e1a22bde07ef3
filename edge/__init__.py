"""Trackside edge: record formats, geodesy, velocity model and travel times, detection, location."""
