"""A kernel's share of one GPU: which device it sees and how much of its memory it may take.

Up to `slots` submissions share one GPU (an assignment's `gpu_slots`); each kernel is capped to
`memory` bytes (the assignment's `gpu_memory`), or to an equal share of the GPU (1 / slots)
where no size is declared. How the cap is applied depends on the Keras backend:

- TensorFlow: a logical device with `memory_limit` (megabytes), set by GPU_PREAMBLE before the
  notebook's first cell (TensorFlow has no environment variable for it);
- JAX: XLA_PYTHON_CLIENT_PREALLOCATE=false and XLA_PYTHON_CLIENT_MEM_FRACTION;
- PyTorch: PYTORCH_CUDA_ALLOC_CONF (expandable segments, so freed memory goes back) and
  `torch.cuda.set_per_process_memory_fraction`, set by GPU_PREAMBLE.

Every backend also gets TF_FORCE_GPU_ALLOW_GROWTH, so that a TensorFlow imported beside JAX or
PyTorch (for tf.data) does not take the whole GPU either. The environment is the grader's; the
preamble runs in the kernel like the notebook (it only lowers what the kernel may take).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass

# what a kernel's share leaves of the GPU for the driver and the CUDA contexts
HEADROOM = 0.95


@dataclass(frozen=True)
class GpuShare:
    device: str | None       # the GPU id (CUDA_VISIBLE_DEVICES); None: as the runner set it
    slots: int = 1           # kernels sharing this GPU at once
    memory: int | None = None   # bytes this kernel may use (None: see fraction)
    total: int | None = None    # the GPU's memory in bytes, where known

    @property
    def fraction(self) -> float:
        """The share of the GPU's memory this kernel may use (0 < fraction <= HEADROOM)."""
        if self.memory and self.total:
            return round(min(HEADROOM, self.memory / self.total), 4)
        return round(HEADROOM / max(1, self.slots), 4)

    @property
    def memory_mb(self) -> int | None:
        """The cap in megabytes (TensorFlow's unit), where it can be known."""
        if self.memory:
            return max(1, self.memory // 1024**2)
        if self.total:
            return max(1, int(self.total * self.fraction) // 1024**2)
        return None


def gpu_environment(share: GpuShare, backend: str) -> dict[str, str]:
    """The kernel's GPU variables for its share (the device itself is set by the caller)."""
    env = {"TF_FORCE_GPU_ALLOW_GROWTH": "true",
           "CNNGRADE_GPU_FRACTION": f"{share.fraction:g}",
           "CNNGRADE_GPU_SLOTS": str(share.slots)}
    if share.memory_mb:
        env["CNNGRADE_GPU_MEMORY_MB"] = str(share.memory_mb)
    if share.device is not None:
        env["CUDA_VISIBLE_DEVICES"] = share.device
    if backend == "jax":
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        env["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{share.fraction:g}"
    elif backend == "torch":
        env["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"
    return env


# Run in a GPU kernel before the notebook: the caps TensorFlow and PyTorch take only from code.
GPU_PREAMBLE = '''
def __cnngrade_gpu_share():
    import os
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    megabytes = os.environ.get("CNNGRADE_GPU_MEMORY_MB")
    fraction = float(os.environ.get("CNNGRADE_GPU_FRACTION", "0.95"))
    if backend == "tensorflow" and megabytes:
        try:
            import tensorflow as tf
        except ImportError:
            return
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.set_logical_device_configuration(
                gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=int(megabytes))])
    elif backend == "torch":
        try:
            import torch
        except ImportError:
            return
        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                torch.cuda.set_per_process_memory_fraction(fraction, index)


__cnngrade_gpu_share()
del __cnngrade_gpu_share
'''


@functools.lru_cache(maxsize=64)
def gpu_memory_total(device: str) -> int | None:
    """Bytes of memory of GPU `device` as `nvidia-smi` reports them (None where it cannot); asked
    once per process and device, not once per submission."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "-i", device, "--query-gpu=memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, timeout=20, check=False).stdout.strip()
        return int(float(out.splitlines()[0])) * 1024**2 if out else None
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def slots_that_fit(slots: int, memory: int | None, total: int | None) -> int:
    """`slots` kernels per GPU, fewer where `memory` each would not fit in `total`."""
    if memory and total:
        return max(1, min(slots, int(total * HEADROOM // memory)))
    return max(1, slots)
