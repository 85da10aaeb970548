"""The one exception type for bad user input: caught by the CLI and printed as one paragraph."""


class ConfigError(ValueError):
    """A config value, input file or combination of settings that dasuite cannot run with."""
