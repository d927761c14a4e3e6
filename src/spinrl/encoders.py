"""Observation encoders: what turns an observation into the features a policy's heads read.

A flat Box is read as it is (no encoder: the MLPs of Part 1, unchanged). An image (a 3-D Box,
or a 2-D uint8 one) goes through a CNN: the Nature CNN (Mnih et al. 2015) when both sides
are at least 36 pixels, the MinAtar network (Young and Tian 2019) for smaller ones. A Dict
gets one encoder per key, their features concatenated. Images travel as they are stored
(uint8 or bool, channels first or last); the CNN converts to float and scales by 1/255
inside the network, so nothing bigger than a byte per pixel is ever stored or copied.

``make_encoder(space)`` picks the encoder (None for flat vectors), ``check_obs_space`` says
in one line why no encoder reads a space, and ``features_dim`` is the width the heads read.
The actors and critics of spinrl.policies hold an encoder each (or share one).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from spinrl.errors import EnvError

NATURE_MIN_SIDE = 36  # the Nature CNN's three convolutions need at least 36 x 36 pixels
MINATAR_MIN_SIDE = 3  # one 3 x 3 convolution


def image_layout(shape: tuple[int, ...]) -> tuple[int, int, int, bool]:
    """(channels, height, width, channels_last) of an image observation's shape.

    2-D: one channel. 3-D: channels last when the first two sides are equal (MinAtar's
    (10, 10, C), an RGB frame (64, 64, 3)) or the last side is the smallest; otherwise channels
    first (a frame stack (4, 84, 84))."""
    if len(shape) == 2:
        return 1, shape[0], shape[1], False
    a, b, c = shape
    channels_last = a == b or (b != c and c < a)
    return (c, a, b, True) if channels_last else (a, b, c, False)


def is_image_space(space: gym.Space) -> bool:
    """A 3-D Box, or a 2-D uint8 Box (a grey frame): read by a CNN, not an MLP."""
    return isinstance(space, gym.spaces.Box) and (
        len(space.shape) == 3 or (len(space.shape) == 2 and space.dtype == np.uint8)
    )


def _conv_init(module: nn.Module, orthogonal: bool) -> nn.Module:
    """Orthogonal weights with gain sqrt(2) and zero biases (CleanRL's layer_init), or
    PyTorch's default."""
    if orthogonal:
        nn.init.orthogonal_(module.weight, math.sqrt(2))
        nn.init.zeros_(module.bias)
    return module


class ImageEncoder(nn.Module):
    """A CNN over image observations; ``kind`` picks the architecture:

    nature   conv 32 8x8 /4, conv 64 4x4 /2, conv 64 3x3 /1, linear 512 (Mnih et al. 2015)
    minatar  conv 16 3x3 /1, linear 128 (the MinAtar paper's network, for small frames)

    each layer followed by a ReLU. Integer images (uint8) are scaled by 1/255 here, inside
    the network; bool and float images are read as they are.
    """

    def __init__(self, shape, dtype, kind: str, orthogonal: bool = False) -> None:
        super().__init__()
        channels, height, width, self.channels_last = image_layout(tuple(shape))
        self.shape, self.dtype, self.kind = tuple(int(n) for n in shape), np.dtype(dtype), kind
        self.squeeze_channel = len(self.shape) == 2
        self.scale = 1.0 / 255.0 if self.dtype == np.uint8 else 1.0
        if kind == "nature":
            convs = [(channels, 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)]
            self.out_dim = 512
        elif kind == "minatar":
            convs = [(channels, 16, 3, 1)]
            self.out_dim = 128
        else:
            raise ValueError(f"unknown image encoder {kind!r}")
        layers: list[nn.Module] = []
        for c_in, c_out, k, stride in convs:
            layers += [_conv_init(nn.Conv2d(c_in, c_out, k, stride), orthogonal), nn.ReLU()]
            height, width = (height - k) // stride + 1, (width - k) // stride + 1
        flat = convs[-1][1] * height * width
        layers += [nn.Flatten(), _conv_init(nn.Linear(flat, self.out_dim), orthogonal), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        batch = obs.shape[: obs.dim() - len(self.shape)]
        x = obs.reshape(-1, *self.shape).to(torch.float32)
        if self.scale != 1.0:
            x = x * self.scale
        if self.squeeze_channel:
            x = x.unsqueeze(1)
        elif self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.net(x).reshape(*batch, self.out_dim)

    def spec(self) -> dict:
        return {"kind": self.kind, "shape": list(self.shape), "dtype": self.dtype.name}


class PackedDictEncoder(nn.Module):
    """One encoder per key of a Dict observation, their features concatenated.

    A Dict observation travels as one uint8 vector, its entries' bytes side by side (see
    spinrl.envs.pack_dict_observations), so buffers, minibatches and replay treat it as any
    other array; here each entry's bytes are viewed as its own dtype and shape again. Images
    go through an ImageEncoder, vectors are read as they are, Discrete entries become one-hot.
    """

    def __init__(self, layout: list[dict], orthogonal: bool = False) -> None:
        super().__init__()
        self.layout = [dict(entry) for entry in layout]
        self.encoders = nn.ModuleDict()
        self.out_dim = 0
        for i, entry in enumerate(self.layout):  # modules by position: keys may hold dots
            if entry.get("n") is not None:
                self.out_dim += int(entry["n"])
            elif entry["image"]:
                kind = image_encoder_kind(tuple(entry["shape"]))
                enc = ImageEncoder(entry["shape"], entry["dtype"], kind, orthogonal)
                self.encoders[str(i)] = enc
                self.out_dim += enc.out_dim
            else:
                self.out_dim += int(np.prod(entry["shape"], dtype=np.int64))

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        batch = packed.shape[:-1]
        packed = packed.reshape(-1, packed.shape[-1])
        parts = []
        for i, entry in enumerate(self.layout):
            start, size = entry["offset"], entry["nbytes"]
            raw = packed[:, start : start + size].contiguous()
            value = raw.view(_TORCH_DTYPES[entry["dtype"]]).reshape(-1, *entry["shape"])
            if entry.get("n") is not None:
                parts.append(nn.functional.one_hot(value.long().reshape(-1), entry["n"]).float())
            elif entry["image"]:
                parts.append(self.encoders[str(i)](value))
            else:
                parts.append(value.reshape(len(value), -1).to(torch.float32))
        return torch.cat(parts, -1).reshape(*batch, self.out_dim)

    def spec(self) -> dict:
        return {"kind": "dict", "layout": [dict(entry) for entry in self.layout]}


_TORCH_DTYPES = {
    "uint8": torch.uint8,
    "bool": torch.bool,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "float16": torch.float16,
    "float32": torch.float32,
    "float64": torch.float64,
}


def image_encoder_kind(shape: tuple[int, ...]) -> str:
    """The CNN for an image of this shape: "nature" from 36 x 36 pixels up, "minatar" below;
    EnvError for images too small even for one 3 x 3 convolution."""
    _, height, width, _ = image_layout(shape)
    if min(height, width) >= NATURE_MIN_SIDE:
        return "nature"
    if min(height, width) >= MINATAR_MIN_SIDE:
        return "minatar"
    raise EnvError(
        f"image observations of shape {shape} are {height}x{width} pixels; the CNN encoders need "
        f"at least {MINATAR_MIN_SIDE}x{MINATAR_MIN_SIDE} (flatten smaller ones into a vector)"
    )


def dict_layout(space: gym.spaces.Dict) -> list[dict]:
    """Where each entry of a Dict observation lies in its packed uint8 vector: key, offset,
    byte count, dtype, shape, whether it is an image, and n for Discrete entries."""
    layout, offset = [], 0
    for key, sub in space.spaces.items():
        if isinstance(sub, gym.spaces.Discrete):
            dtype, shape, image, n = np.dtype(np.int64), (), False, int(sub.n)
        elif isinstance(sub, gym.spaces.Box) and sub.dtype.name in _TORCH_DTYPES:
            dtype, shape, image, n = sub.dtype, tuple(sub.shape), is_image_space(sub), None
            if image:
                image_encoder_kind(shape)
            elif len(shape) > 1:
                raise EnvError(
                    f"Dict observation entry {key!r} has shape {shape}: spinrl reads flat "
                    "vectors and images (2-D uint8 or 3-D Box); flatten it"
                )
        else:
            raise EnvError(
                f"Dict observation entry {key!r} is {sub}; spinrl's encoders take Box and "
                "Discrete entries"
            )
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        layout.append(
            {
                "key": str(key),
                "offset": offset,
                "nbytes": nbytes,
                "dtype": dtype.name,
                "shape": list(shape),
                "image": image,
                "n": n,
            }
        )
        offset += nbytes
    return layout


class PackedDictSpace(gym.spaces.Box):
    """A Dict observation space as spinrl carries it: one uint8 vector of its entries' bytes,
    with ``dict_layout`` saying where each entry lies and ``dict_space`` the original."""

    def __init__(self, space: gym.spaces.Dict) -> None:
        self.dict_space, self.dict_layout = space, dict_layout(space)
        nbytes = sum(entry["nbytes"] for entry in self.dict_layout)
        super().__init__(0, 255, (nbytes,), np.uint8)

    def sample(self, *args, **kwargs) -> np.ndarray:
        """A packed sample of the Dict space (random bytes would not be one)."""
        return self.pack(self.dict_space.sample(*args, **kwargs))

    def seed(self, seed=None):
        return self.dict_space.seed(seed)

    def pack(self, obs: dict) -> np.ndarray:
        """An observation of the Dict space as its packed bytes."""
        return pack_dict(self.dict_layout, obs)


def pack_dict(layout: list[dict], obs: dict) -> np.ndarray:
    """A Dict observation (or a batch: each entry with leading batch dimensions) as the
    packed uint8 vector(s) ``layout`` describes."""
    parts = []
    for entry in layout:
        value = np.asarray(obs[entry["key"]], dtype=entry["dtype"])
        batch = value.shape[: value.ndim - len(entry["shape"])]
        parts.append(np.ascontiguousarray(value.reshape(*batch, -1)).view(np.uint8))
    return np.concatenate(parts, -1)


def make_encoder(obs_space: gym.Space | int, orthogonal: bool = False) -> nn.Module | None:
    """The encoder for an observation space: None for flat vectors (the MLP reads them),
    a CNN for images (chosen by size), a PackedDictEncoder for a packed Dict (its space
    carries the layout). EnvError, in one line, for what no encoder reads. An int (a flat
    observation's width) has no encoder either."""
    if isinstance(obs_space, int):
        return None
    if isinstance(obs_space, gym.spaces.Dict):
        obs_space = PackedDictSpace(obs_space)
    layout = getattr(obs_space, "dict_layout", None)
    if layout is not None:
        return PackedDictEncoder(layout, orthogonal)
    if is_image_space(obs_space):
        shape = tuple(obs_space.shape)
        return ImageEncoder(shape, obs_space.dtype, image_encoder_kind(shape), orthogonal)
    flat_obs_dim(obs_space)  # EnvError for what is neither
    return None


def check_obs_space(space: gym.Space) -> None:
    """EnvError, in one line, unless some encoder reads this observation space (as
    make_encoder, without building a network)."""
    if isinstance(space, gym.spaces.Dict):
        dict_layout(space)
    elif is_image_space(space):
        image_encoder_kind(tuple(space.shape))
    elif getattr(space, "dict_layout", None) is None:
        flat_obs_dim(space)


def as_obs_tensor(obs) -> torch.Tensor:
    """A batch of observations as a tensor: images and packed Dicts (integer, bool) in their
    own dtype for the encoder, anything else as float32."""
    x = torch.as_tensor(obs)
    return x if x.dtype in (torch.uint8, torch.bool) else x.to(torch.float32)


def build_encoder(spec: dict | None) -> nn.Module | None:
    """The encoder an encoder's ``spec()`` describes (freshly initialised)."""
    if spec is None:
        return None
    if spec["kind"] == "dict":
        return PackedDictEncoder(spec["layout"])
    return ImageEncoder(spec["shape"], spec["dtype"], spec["kind"])


def features_dim(obs_space: gym.Space | int, encoder: nn.Module | None) -> int:
    """The width of what the heads read: the encoder's output, or the flat observation (an
    int ``obs_space`` is that width)."""
    if encoder is not None:
        return encoder.out_dim
    return obs_space if isinstance(obs_space, int) else flat_obs_dim(obs_space)


def flat_obs_dim(space: gym.Space) -> int:
    """The input width of an MLP for this observation space, or an EnvError saying why not."""
    if isinstance(space, gym.spaces.Box):
        if len(space.shape) != 1:
            raise EnvError(
                f"observation space {space} has shape {space.shape}; spinrl reads flat vectors "
                "(MLP), images (2-D uint8 or 3-D Box, CNN) and Dicts of them: flatten it"
            )
        return int(space.shape[0])
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    raise EnvError(
        f"observation space {type(space).__name__} is not supported; spinrl's policies take "
        "Box (vectors, images), Discrete or Dict observations"
    )
