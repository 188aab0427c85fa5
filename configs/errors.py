"""The one error type for a bad configuration value: it names the field, the value and what is valid."""

import dataclasses
import math


class ConfigError(ValueError):
    """A configuration value is invalid. Raised at start-up, before any training or file is written."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid config: {field}={value!r}: {allowed}")


def require_finite_floats(config: object, section: str) -> None:
    """ConfigError for the first float field of the dataclass `config` that is NaN or infinite: every
    comparison with NaN is False, so range checks alone would let it through to training."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{section}.{f.name}", value, "must be a finite number")
