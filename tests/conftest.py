"""pytest configuration: hypothesis profiles and the devices to test on.

The notebooks hold the derivations and their checks (run by `nbdev_test`); these pytest files add what notebooks do
poorly: property-based tests over many random shapes, a subprocess check of the installed package, and a device matrix.
`--hypothesis-profile=ci` (the default when the environment variable CI is set) runs more examples.
"""
import os
import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]
