"""display(), update_display(), clear_output(), DisplayHandle."""

from _wasipy_display import (  # noqa: F401
    DisplayHandle,
    clear_output,
    display,
    publish_display_data,
    update_display,
)

__all__ = ["display", "clear_output", "publish_display_data", "update_display", "DisplayHandle"]
