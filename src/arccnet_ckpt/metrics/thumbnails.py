"""Small PNG pictures of test inputs, for the most confident mistakes.

The pixels are made with torch (channel choice, per-image min-max scaling, the resize); only the PNG encoding needs
Pillow, an optional extra (``pip install arccnet-ckpt[images]``), imported when a picture is encoded and never at
import time. No numpy: the few thousand pixels of a thumbnail go to Pillow as bytes.

* :func:`image_shaped`: whether one sample's shape is a picture, ``(H, W)`` or ``(C, H, W)``.
* :func:`thumbnail_pixels`: one sample as ``uint8`` pixels at most :data:`MAX_SIDE` on the longer side.
* :func:`encode_png`: those pixels as PNG bytes.
* :func:`pillow_missing`: why Pillow cannot encode (one line), or ``None``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional

__all__ = ["MAX_SIDE", "PILLOW_NOTE", "encode_png", "image_shaped", "pillow_missing", "thumbnail_pixels"]

MAX_SIDE = 96
"""The longest side of a thumbnail, in pixels; smaller pictures keep their size."""

PILLOW_NOTE = "no thumbnails: Pillow is not installed; install arccnet-ckpt[images] for thumbnails"
"""The note a report gets when Pillow cannot be imported."""

_MID_GREY = 128


def image_shaped(sample_shape: Sequence[int]) -> bool:
    """Whether one sample (a batch's row) is a picture: ``(H, W)`` grey, or ``(C, H, W)`` with any ``C``.

    Args:
        sample_shape: The input's shape without the batch dimension.
    """
    return len(sample_shape) in (2, 3) and all(size > 0 for size in sample_shape)


def thumbnail_pixels(image: Tensor) -> tuple[Tensor, Literal["L", "RGB"]]:
    """One sample as 8-bit pixels: ``(H, W)`` grey (mode ``"L"``) or ``(H, W, 3)`` (mode ``"RGB"``).

    One channel is grey, three are RGB, any other number shows the first channel in grey. The picture is min-max
    scaled on its own over its finite values (every channel with one scale, so colours keep their balance):
    the smallest becomes 0 and the largest 255; a constant picture is mid grey (128); ``+inf`` is 255, ``-inf`` and
    ``NaN`` are 0; a picture with no finite value is mid grey. Then it is shrunk (bilinear, antialiased) so that
    its longer side is at most :data:`MAX_SIDE`, keeping the aspect ratio; it is never enlarged.

    Args:
        image: One sample, ``(H, W)`` or ``(C, H, W)``, real numbers or bools, on any device.

    Returns:
        The ``uint8`` pixels on the CPU, and the Pillow mode that reads them.

    Raises:
        ValueError: If ``image`` is not :func:`image_shaped` or holds complex numbers.
    """
    if not image_shaped(image.shape) or image.is_complex():
        raise ValueError(
            f"a thumbnail needs one (H, W) or (C, H, W) picture of real numbers, got shape {tuple(image.shape)} and "
            f"dtype {image.dtype}"
        )
    pixels = image.detach().to("cpu", torch.float64)
    if pixels.dim() == 2:
        pixels = pixels.unsqueeze(0)
    if pixels.shape[0] != 3:
        pixels = pixels[:1]
    mode: Literal["L", "RGB"] = "RGB" if pixels.shape[0] == 3 else "L"
    scaled = _min_max_scaled(pixels)
    scaled = _shrunk(scaled)
    out = scaled.mul_(255).round_().clamp_(0, 255).to(torch.uint8)
    return (out.permute(1, 2, 0).contiguous() if mode == "RGB" else out[0]), mode


def _min_max_scaled(pixels: Tensor) -> Tensor:
    """Pixels scaled into [0, 1] over their finite values (see :func:`thumbnail_pixels` for the odd cases)."""
    finite = torch.isfinite(pixels)
    if not bool(finite.any()):
        return torch.full_like(pixels, _MID_GREY / 255)
    values = pixels[finite]
    lowest, highest = float(values.min()), float(values.max())
    if lowest == highest:
        scaled = torch.full_like(pixels, _MID_GREY / 255)
    else:
        # Halved first, so that a range wider than the largest float (-1e308 to 1e308) does not overflow to inf.
        scaled = (pixels / 2 - lowest / 2) / (highest / 2 - lowest / 2)
    scaled = torch.where(finite, scaled, torch.zeros_like(scaled))
    return torch.where(pixels == float("inf"), torch.ones_like(scaled), scaled)


def _shrunk(pixels: Tensor) -> Tensor:
    """``(C, H, W)`` pixels shrunk so the longer side is at most :data:`MAX_SIDE` (never enlarged)."""
    height, width = pixels.shape[-2:]
    longer = max(height, width)
    if longer <= MAX_SIDE:
        return pixels
    size = (max(1, round(height * MAX_SIDE / longer)), max(1, round(width * MAX_SIDE / longer)))
    return functional.interpolate(pixels.unsqueeze(0), size=size, mode="bilinear", antialias=True)[0]


def encode_png(pixels: Tensor, mode: Literal["L", "RGB"]) -> bytes:
    """PNG bytes of :func:`thumbnail_pixels`' output.

    Raises:
        ImportError: If Pillow is not installed (check :func:`pillow_missing` first).
    """
    from PIL import Image  # the optional extra, imported only when a picture is encoded

    height, width = pixels.shape[:2]
    picture = Image.frombytes(mode, (width, height), bytes(pixels.reshape(-1).tolist()))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def pillow_missing() -> str | None:
    """:data:`PILLOW_NOTE` when Pillow cannot be imported, else ``None``."""
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return PILLOW_NOTE
    return None
