"""One exception hierarchy for the library (pySigma style): messages say where and what was expected."""


class TokenhawkError(Exception):
    """Base of every error tokenhawk raises on purpose."""


class ConfigError(TokenhawkError):
    """Configuration is missing, unknown or invalid."""


class InputError(TokenhawkError):
    """An input path cannot be read at all (not: a record inside it is bad, that is quarantined)."""


class ModelError(TokenhawkError):
    """A model artifact is missing, tampered with, or was trained on other features."""
