"""Test configuration: hypothesis profiles and shared paths.

``IAMLOGIC_HYPOTHESIS_PROFILE`` selects a profile: ``ci`` (the default: fixed seed, bounded
examples, what CI runs), ``dev`` (quick), ``deep`` (long local runs).
"""

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=200,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile("deep", deadline=None, max_examples=5000,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("IAMLOGIC_HYPOTHESIS_PROFILE", "ci"))
