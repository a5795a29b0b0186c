"""Public API for display tools in IPython (wasipy's implementation)."""

from IPython.core.display_functions import *  # noqa: F401,F403
from IPython.core.display import *  # noqa: F401,F403
from IPython.lib.display import *  # noqa: F401,F403
