"""get_ipython(): the kernel's shell object."""


def get_ipython():
    """The shell object of the running wasipy kernel (None outside one)."""
    import _wasipy_magics
    return _wasipy_magics.get_ipython()
