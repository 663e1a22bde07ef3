"""Exceptions of das-eew: one base class, specific subclasses callers can catch exactly."""
from __future__ import annotations


class DasEewError(Exception):
    """Base class of every error das-eew raises on purpose."""


class ConfigError(ValueError, DasEewError):
    """A configuration, model file or parameter is invalid (names the offending item)."""


class RecordError(DasEewError):
    """A fiber record is malformed, truncated or violates the format contract."""


class DecodeError(DasEewError):
    """A wire or stream message could not be decoded or failed validation."""


class FrameError(DasEewError):
    """A serial frame is malformed (COBS, length, CRC, version)."""
