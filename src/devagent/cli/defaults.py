"""Defaults the click options and the quick path (cli.quick) share, without importing click."""

DEFAULT_BPF_DIR = "/sys/fs/bpf"
