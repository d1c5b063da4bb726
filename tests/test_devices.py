"""The one device resolver (inference/devices.py): spellings, the torch device, ONNX Runtime providers."""

from __future__ import annotations

import pytest

from video_mocap.core.errors import VideoMocapError
from video_mocap.inference import devices, runtime


def test_parse_device_spellings():
    assert devices.parse_device(None) == ("auto", None)
    assert devices.parse_device(" CUDA:1 ") == ("cuda", 1)
    assert devices.parse_device("mps") == ("mps", None)
    for bad in ("gpu", "cpu:0", "cuda:x", "cuda:-1"):
        with pytest.raises(VideoMocapError, match="(?i)device"):
            devices.parse_device(bad)


def test_torch_device_here():
    torch = pytest.importorskip("torch")
    assert devices.torch_device("cpu") == "cpu"
    auto = devices.torch_device("auto")
    if torch.cuda.is_available():
        assert auto == "cuda:0" and devices.torch_device("cuda") == "cuda:0"  # one spelling for every stage
        with pytest.raises(VideoMocapError, match="CUDA device"):
            devices.torch_device(f"cuda:{torch.cuda.device_count()}")
    else:
        assert auto in ("cpu", "mps")
        with pytest.raises(VideoMocapError, match="no CUDA GPU"):
            devices.torch_device("cuda:0")


def test_onnx_providers_follow_the_device_string():
    pytest.importorskip("onnxruntime")
    assert devices.onnx_preference("cuda:1") == "CUDA" and devices.onnx_preference("mps") == "AUTO"
    assert devices.onnx_providers("cpu") == [runtime.CPU_PROVIDER]
    assert devices.onnx_providers("auto")[-1] == runtime.CPU_PROVIDER
    with pytest.raises(VideoMocapError, match="Unknown device"):
        devices.onnx_providers("tpu")
