"""The exception type for bad user input, caught by the CLI and printed as one paragraph (and :class:`Refused`,
which carries one through Hydra)."""


class ConfigError(ValueError):
    """A config value, input file or combination of settings that dasuite cannot run with."""


def check_number(key: str, value, minimum: float | None = None, hint: str = "") -> float:
    """``value`` as a float, or a ConfigError naming ``key`` if it is not a number (>= ``minimum``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}={value!r} must be a number.")
    if minimum is not None and not value >= minimum:
        raise ConfigError(f"{key}={value} must be >= {minimum}{hint}.")
    return float(value)


class Refused(BaseException):
    """A ConfigError raised where Hydra runs dasuite's code outside a job (a Hydra callback, the sweeper). Hydra
    reports every Exception raised there as a traceback with exit status 1; this passes through it to
    ``dasuite train``, which prints the message as a config error (exit status 2)."""
