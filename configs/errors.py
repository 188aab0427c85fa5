"""The one error type for a bad configuration value: it names the field, the value and what is valid."""


class ConfigError(ValueError):
    """A configuration value is invalid. Raised at start-up, before any training or file is written."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid config: {field}={value!r}: {allowed}")
