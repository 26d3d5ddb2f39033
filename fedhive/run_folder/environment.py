"""The run's environment (versions, device, engine, threads), written as environment.json."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from fedhive.config import Config
from fedhive.run_folder.files import atomic_write


def environment(config: Config) -> dict[str, Any]:
    """What produced a run: package versions, the machine, the device and the engine."""
    import numpy
    import torch

    import fedhive

    device = config.device
    if device.startswith("cuda") and torch.cuda.is_available():
        device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return {
        "fedhive": fedhive.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": numpy.__version__, "platform": platform.platform(), "processor": platform.machine(),
        "device": device, "engine": config.engine.name, "workers": config.engine.workers,
        "torch_threads": torch.get_num_threads(), "command": " ".join(["fedhive", *sys.argv[1:]]),
    }


def write_environment(run_dir: Path, config: Config) -> None:
    atomic_write(run_dir / "environment.json", (json.dumps(environment(config), indent=2) + "\n").encode())
