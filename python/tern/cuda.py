"""The GPU: is_available(), device_count(), memory_stats(), reset_peak_memory_stats(), synchronize()."""

from ._tern.cuda import (  # noqa: F401
    device_count,
    is_available,
    memory_stats,
    reset_peak_memory_stats,
    synchronize,
)
