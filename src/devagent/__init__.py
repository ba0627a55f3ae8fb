"""dev-agent for Python: inspect, export and edit a Linux host's eBPF programs, maps and links."""

__version__ = "0.1.0"
