"""Settings (sampling, steering specs, strength units) load without torch, so parsers and the app can use them early."""

import subprocess
import sys
from pathlib import Path

import pytest

from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.steering.specs import SteerSpec
from desktop_sae.core.steering.syntax import parse_steer
from desktop_sae.core.support.errors import SteeringError

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_settings_loads_no_torch():
    code = ("import sys, desktop_sae.core.steering.syntax as s, desktop_sae.core.engine.sampling as c\n"
            "s.parse_steer('3=2x:clamp'); c.SamplingConfig().validate()\n"
            "heavy = [m for m in ('torch', 'transformers', 'PySide6') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -0.1])
def test_sampling_rejects_non_finite_or_negative_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=temperature).validate()


def test_steer_spec_validates_on_construction():
    assert parse_steer("7=-1.5x:orthogonal") == SteerSpec(7, -1.5, unit="max", method="orth")
    with pytest.raises(SteeringError, match="unknown steering method"):
        SteerSpec(1, 1.0, method="scale")
