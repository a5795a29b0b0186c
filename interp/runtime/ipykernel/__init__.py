"""The small part of ipykernel that libraries written for it import
(ipykernel.comm for ipywidgets 6/7). Used only inside wasipy's sandbox."""

version_info = (6, 0, 0)
__version__ = "6.0.0"
kernel_protocol_version = "5.3"
