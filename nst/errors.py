"""Exceptions of the engine. Each message is meant for the person running it."""


class NSTError(Exception):
    """Base class of every error the engine raises on purpose."""


class ImageError(NSTError, ValueError):
    """An input image cannot be used; the message says which one and why."""


class ParamsError(NSTError, ValueError):
    """A parameter is invalid. `field` names it; the message says what is allowed."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class WeightsError(NSTError, RuntimeError):
    """The VGG19 weights could not be loaded; the message says what to do."""


class Cancelled(NSTError):
    """The run was cancelled through its cancel flag."""


class OutOfMemory(NSTError, MemoryError):
    """The device ran out of memory; a smaller size or the CPU may work."""


class NumericalError(NSTError, ArithmeticError):
    """The optimisation diverged (NaN or infinite loss) even in float32."""
