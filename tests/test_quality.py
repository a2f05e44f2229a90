"""Quality: a painting's objects must not be pasted into the picture.

A synthetic painting: The Starry Night with a smiley face in the middle, a shape no photo
has. The fast preset must repaint the cat in its strokes without copying the face, as
canonical Gatys does. Measured at conv5_1, where whole objects are recognised: for each of
the face's feature positions, the best cosine similarity to any position of the result.
A result painted with the same painting without the face gives the level that texture and
colour alone reach; a photo with the face pasted in gives the level of a copy.
"""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageDraw

import nst
import nst.estimate
from nst import images
from nst.vgg import load_vgg19

N = 192  # px: the smallest size with two scales above the minimum (128 px)


def _box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
    return (round(x0 * N), round(y0 * N), round(x1 * N), round(y1 * N))


@pytest.fixture(scope="module")
def paintings(style_path) -> tuple[Image.Image, Image.Image]:
    plain = Image.open(style_path).convert("RGB").resize((N, N), Image.Resampling.LANCZOS)
    face = plain.copy()
    draw = ImageDraw.Draw(face)
    draw.ellipse(_box(0.35, 0.35, 0.65, 0.65), fill=(250, 220, 40), outline=(0, 0, 0), width=4)
    draw.ellipse(_box(0.42, 0.42, 0.47, 0.5), fill=(0, 0, 0))
    draw.ellipse(_box(0.53, 0.42, 0.58, 0.5), fill=(0, 0, 0))
    draw.arc(_box(0.41, 0.45, 0.59, 0.6), 20, 160, fill=(0, 0, 0), width=6)
    return plain, face


def _face_match(image: Image.Image, painting: Image.Image) -> float:
    """Mean over the face's conv5_1 positions of the best cosine similarity in `image`."""
    model = load_vgg19("caffe", "max", "cpu")
    with torch.no_grad():
        f = model(images.to_tensor(painting), ["conv5_1"])["conv5_1"][0]
        g = model(images.to_tensor(image.convert("RGB")), ["conv5_1"])["conv5_1"][0]
    h, w = f.shape[-2:]
    face = f[:, int(h * 0.42) : int(h * 0.58) + 1, int(w * 0.42) : int(w * 0.58) + 1]
    a = torch.nn.functional.normalize(face.flatten(1).T.double(), dim=1)
    b = torch.nn.functional.normalize(g.flatten(1).T.double(), dim=1)
    return float((b @ a.T).max(0).values.mean())


def test_the_paintings_objects_are_not_pasted(content_path, paintings, monkeypatch) -> None:
    plain, face = paintings
    photo = Image.open(content_path).convert("RGB")
    photo.thumbnail((N, N), Image.Resampling.LANCZOS)
    pasted = photo.copy()
    pasted.paste(face.crop(_box(0.33, 0.33, 0.67, 0.67)), (N // 10, 0))
    copy_level = _face_match(pasted, face) - _face_match(photo, face)

    def rise(params: dict) -> float:
        """How far the face shows in the result beyond what texture and colour give."""
        with_face = nst.stylize(photo, face, params)
        without = nst.stylize(photo, plain, params)
        return (_face_match(with_face, face) - _face_match(without, face)) / copy_level

    # Measured: 0.54 of a copy for the engine as it is (0.62 before the texture layers' gain;
    # strokes and colours of the face, not the face, by eye), 0.85 with a 64 px coarse scale
    # (the face on the cat's eye).
    params = {"size": N, "seed": 0, "scales": 3}
    ours = rise(params)
    assert ours < 0.72, f"the painting's face shows in the result ({ours:.2f} of a copy)"
    # The check can fail: a 64 px coarse scale, where conv5_1 sees the whole painting,
    # pastes the face onto the cat (seen by eye).
    monkeypatch.setattr(nst.estimate, "MIN_SCALE_SIZE", 64)
    assert rise(params) > ours + 0.1
