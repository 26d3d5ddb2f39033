"""System heterogeneity: device and network model, simulated clock, sync round planning."""

from fedhive.system.devices import Devices, TaskTime
from fedhive.system.rounds import Homogeneous, RoundPlan, SyncSystem, build_system

__all__ = ["Devices", "Homogeneous", "RoundPlan", "SyncSystem", "TaskTime", "build_system"]
