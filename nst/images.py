"""Images as painters have them: files or PIL images in any mode, alpha, masks, colour."""

from __future__ import annotations

import os
import warnings
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from nst.errors import ImageError

ImageInput = Union[str, os.PathLike, Image.Image]  # noqa: UP007 (runtime alias)

# 64 megapixels: far above any canvas a style run can handle, well below a decompression bomb.
DEFAULT_MAX_PIXELS = 64_000_000


def open_image(
    source: ImageInput, what: str = "image", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Open and fully decode an image, with EXIF orientation applied.

    Raises ImageError for missing files, non-images, truncated data, empty or huge images.
    """
    if isinstance(source, Image.Image):
        image = source
        _check_size(image, what, max_pixels)
        return ImageOps.exif_transpose(image) if image.getexif() else image
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise ImageError(f"{what} not found: {path}")
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning would let a huge image through: make it an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            _check_size(image, what, max_pixels)
            image.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(  # noqa: B904 (the cause adds nothing for the reader)
            f"{what} {path} is not an image this program can read (PNG, JPEG, WebP...)"
        )
    except Exception as exc:  # Pillow raises IndexError, struct.error... on damaged data
        raise ImageError(f"{what} {path} is damaged or truncated ({exc})") from exc
    return ImageOps.exif_transpose(image)


def _check_size(image: Image.Image, what: str, max_pixels: int) -> None:
    w, h = image.size
    if w < 1 or h < 1:
        raise ImageError(f"{what} is empty ({w}x{h} pixels)")
    if w * h > max_pixels:
        raise ImageError(
            f"{what} is too large: {w}x{h} = {w * h / 1e6:.1f} megapixels, the limit is "
            f"{max_pixels / 1e6:.1f}; downscale it first"
        )


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """RGB part and alpha channel (None when the image is opaque by mode)."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        return rgba.convert("RGB"), rgba.getchannel("A")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / float greyscale: scale to 8 bits rather than clipping at 255.
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I") and arr.max() > 255 else 255.0
        if image.mode == "F":
            top = max(1.0, float(arr.max()))
        arr = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB"), None
    return image.convert("RGB"), None


def resize_long_edge(image: Image.Image, long_edge: int) -> Image.Image:
    w, h = image.size
    scale = long_edge / max(w, h)
    return resize_to(image, (max(1, round(w * scale)), max(1, round(h * scale))))


def resize_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float tensor (1, 3, H, W) in 0..255."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0)


def to_image(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (1, 3, H, W) in 0..255 -> RGB PIL image."""
    arr = tensor.detach().float().squeeze(0).clamp(0, 255).round().byte()
    return Image.fromarray(arr.permute(1, 2, 0).cpu().numpy(), "RGB")


# -- colour -----------------------------------------------------------------------------
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def _yiq(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(x), x)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_YIQ).to(x), x)


def luminance_only(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Keep the result's luminance and the content's chroma (Gatys et al. 2016)."""
    y = _yiq(result)[:, :1]
    iq = _yiq(content)[:, 1:]
    return _rgb(torch.cat([y, iq], 1)).clamp(0, 255)


def match_colors(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """Recolour the style image so its colour mean and covariance match the content's.

    Histogram matching by the symmetric matrix square root (Gatys et al. 2016, eq. 1-2).
    Done on the CPU in float64 (MPS has no float64); the result goes back to the style's device.
    """
    device = style.device
    style, content = style.cpu(), content.cpu()

    def stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(3, -1).double()
        mu = flat.mean(1, keepdim=True)
        centred = flat - mu
        cov = centred @ centred.T / flat.shape[1] + eps * torch.eye(3, dtype=flat.dtype)
        return mu, cov

    def sqrtm(m: torch.Tensor, power: float) -> torch.Tensor:
        vals, vecs = torch.linalg.eigh(m)
        return vecs @ torch.diag(vals.clamp_min(1e-8) ** power) @ vecs.T

    mu_s, cov_s = stats(style)
    mu_c, cov_c = stats(content)
    transform = sqrtm(cov_c, 0.5) @ sqrtm(cov_s, -0.5)
    flat = style.reshape(3, -1).double()
    out = transform @ (flat - mu_s) + mu_c
    return out.reshape(style.shape).float().clamp(0, 255).to(device)


def restore_alpha_and_mask(
    result: Image.Image,
    original_rgb: Image.Image,
    alpha: Image.Image | None,
    mask: Image.Image | None,
) -> Image.Image:
    """Blend result and original by the mask (255 = result), then put the original alpha back."""
    if mask is not None:
        result = Image.composite(result, original_rgb, mask)
    if alpha is not None:
        result = result.copy()
        result.putalpha(alpha)
    return result


def prepare_mask(
    mask: ImageInput | None, size: tuple[int, int], max_pixels: int
) -> Image.Image | None:
    if mask is None:
        return None
    image = open_image(mask, "mask", max_pixels)
    if image.size != size:
        raise ImageError(
            f"mask is {image.size[0]}x{image.size[1]} but the content image is "
            f"{size[0]}x{size[1]}; they must be the same size"
        )
    return image.convert("L")
