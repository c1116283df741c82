"""Request load, queueing and GPU memory of the sandbox (see :mod:`.load` for the loop).

``Simulation`` implements the ``Simulation`` protocol of :mod:`console.sandbox.context`; the
records in :mod:`.figures` are what it publishes and what :mod:`console.sandbox.exporters` renders.
"""

from .figures import DeploymentFigures, GpuFigures, Histogram, PodFigures, VllmPodSample
from .load import Simulation

__all__ = ["DeploymentFigures", "GpuFigures", "Histogram", "PodFigures", "Simulation", "VllmPodSample"]
