"""The published training transforms as batch augmentations (dasuite/data/images.py): TLL's centre crop, the
random crop window of SHOT and CDTrans (TLL's ran.crop), SHOT's pad-crop-rotate for the USPS source."""

import torch

from dasuite.data.images import Preprocess, random_rotation, random_window

# 16 copies of one 8x8 image whose pixels all differ, so a crop's position shows in its values
IMAGE = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8).repeat(16, 1, 1, 1)


def _pixels(augment: str, x: torch.Tensor, crop: int | None = None, train: bool = True) -> torch.Tensor:
    """The preprocessed batch back in pixel units (mean 0, std 1/255)."""
    return Preprocess((0.0,), (1 / 255,), augment, 1, crop=crop)(x, train).round()


def _windows(image: torch.Tensor, size: int, flip: bool) -> list[torch.Tensor]:
    h, w = image.shape[-2:]
    found = [image[..., top:top + size, left:left + size] for top in range(h - size + 1) for left in range(w - size + 1)]
    return found + [window.flip(-1) for window in found] if flip else found


def test_window_crop_flip_cuts_a_random_window_of_the_stored_image():
    torch.manual_seed(0)
    crops = _pixels("window_crop_flip", IMAGE, crop=5)
    assert crops.shape == (16, 1, 5, 5)
    allowed = _windows(IMAGE[0].float(), 5, flip=True)
    assert all(any(torch.equal(crop, window) for window in allowed) for crop in crops)
    assert len({tuple(crop.flatten().tolist()) for crop in crops}) > 4  # positions and mirrors vary
    centre = _pixels("window_crop_flip", IMAGE[:1], crop=5, train=False)  # evaluation: the centre
    assert torch.equal(centre[0], IMAGE[0, :, 2:7, 2:7].float())


def test_center_crop_flip_is_the_centre_crop_or_its_mirror():
    torch.manual_seed(0)
    crops = _pixels("center_crop_flip", IMAGE, crop=4)
    centre = IMAGE[0, :, 2:6, 2:6].float()
    assert all(torch.equal(c, centre) or torch.equal(c, centre.flip(-1)) for c in crops)
    assert any(torch.equal(c, centre) for c in crops) and any(torch.equal(c, centre.flip(-1)) for c in crops)


def test_random_window_keeps_an_image_no_larger_than_the_window_whole():
    assert torch.equal(random_window(IMAGE, 8, flip=False), IMAGE)


def test_pad_crop_rotate_shifts_by_at_most_four_pixels_with_zeros_and_rotates_within_ten_degrees():
    torch.manual_seed(0)
    digit = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    digit[:, :, 10:18, 12:16] = 255  # a white bar on black, as USPS digits
    out = _pixels("pad_crop_rotate", digit)
    assert out.shape == digit.shape and set(out.unique().tolist()) <= {0.0, 255.0}  # nearest pixel, zero fill
    rows = (out[:, 0] > 0).any(dim=2).float().argmax(dim=1)  # first row holding ink
    assert int(rows.min()) >= 10 - 4 - 1 and int(rows.max()) <= 10 + 4 + 1 and len(rows.unique()) > 3
    assert (out.sum(dim=(1, 2, 3)) - digit.float().sum(dim=(1, 2, 3))).abs().max() / (32 * 255) < 0.35


def test_random_rotation_of_zero_degrees_is_the_identity_and_larger_angles_move_pixels():
    x = torch.rand(4, 1, 9, 9) * 255
    assert torch.equal(random_rotation(x, 0.0), x)
    torch.manual_seed(0)
    bar = torch.zeros(32, 1, 21, 21)
    bar[:, :, 10, :] = 1.0  # a horizontal line through the centre
    rotated = random_rotation(bar, 10.0)
    assert rotated[:, 0, 10, 10].eq(1).all()  # the centre stays
    assert (rotated[:, 0, :, 0] > 0).float().argmax(dim=1).ne(10).any()  # the line's end moved


def test_the_training_transform_is_not_applied_in_evaluation():
    for augment in ("center_crop_flip", "window_crop_flip", "pad_crop_rotate"):
        assert torch.equal(_pixels(augment, IMAGE, train=False), IMAGE.float())
