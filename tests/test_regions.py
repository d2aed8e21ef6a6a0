"""XMP face regions: the geometry against Pillow's own EXIF transposes, and hostile XMP."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from photoface.regions import (
    Region,
    RegionError,
    area_to_box,
    box_to_area,
    box_to_rectangle,
    iou,
    read_regions,
    rectangle_to_box,
    regions_description,
    stored_size,
    updated_sidecar,
)

STORED = (200, 120)  # width, height of the image as stored in the file
MARK = (30, 20, 40, 24)  # a box in the stored image: x, y, w, h


def _upright_mark(orientation: int) -> tuple[tuple[int, int], tuple[float, float, float, float]]:
    """Where Pillow's exif_transpose puts the stored box: the ground truth for every orientation."""
    pixels = np.zeros((STORED[1], STORED[0]), np.uint8)
    x, y, w, h = MARK
    pixels[y : y + h, x : x + w] = 255
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    upright = np.asarray(ImageOps.exif_transpose(image))
    rows, cols = np.nonzero(upright)
    return (upright.shape[1], upright.shape[0]), (
        cols.min(),
        rows.min(),
        cols.max() - cols.min() + 1,
        rows.max() - rows.min() + 1,
    )


@pytest.mark.parametrize("orientation", range(1, 9))
def test_areas_turn_with_the_photo_as_pillow_turns_it(orientation):
    upright, expected = _upright_mark(orientation)
    assert stored_size(upright, orientation) == STORED
    x, y, w, h = MARK
    area = ((x + w / 2) / STORED[0], (y + h / 2) / STORED[1], w / STORED[0], h / STORED[1])
    np.testing.assert_allclose(area_to_box(area, upright, orientation), expected, atol=0.5)
    np.testing.assert_allclose(box_to_area(expected, upright, orientation), area, atol=1e-9)
    rectangle = (x / STORED[0], y / STORED[1], w / STORED[0], h / STORED[1])
    np.testing.assert_allclose(rectangle_to_box(rectangle, upright, orientation), expected, atol=0.5)
    np.testing.assert_allclose(box_to_rectangle(expected, upright, orientation), rectangle, atol=1e-9)


def test_iou_known_answers():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0


def _packet(
    body: str, dims: str = '<mwg-rs:AppliedToDimensions stDim:w="200" stDim:h="120" stDim:unit="pixel"/>'
) -> bytes:
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
   xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
  <mwg-rs:Regions rdf:parseType="Resource">{dims}<mwg-rs:RegionList><rdf:Bag>{body}</rdf:Bag></mwg-rs:RegionList>
  </mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>""".encode()


def _li(name: str, x: float, y: float, w: float, h: float) -> str:
    return (
        f'<rdf:li><rdf:Description mwg-rs:Name="{name}" mwg-rs:Type="Face"><mwg-rs:Area stArea:x="{x}" '
        f'stArea:y="{y}" stArea:w="{w}" stArea:h="{h}" stArea:unit="normalized"/></rdf:Description></rdf:li>'
    )


def test_regions_in_attribute_and_description_forms_are_read():
    regions, skipped = read_regions(_packet(_li("Alice", 0.25, 0.5, 0.1, 0.2)), (200, 120), 1)
    assert skipped == [] and [r.name for r in regions] == ["Alice"]
    np.testing.assert_allclose(regions[0].box, (40, 48, 20, 24))


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (b"<x:xmpmeta><rdf:RDF", "not well-formed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><x>&lol2;</x>',
            "entities or a DTD",
        ),
        (b"<x>" + b" " * (5 * 2**20) + b"</x>", "over the"),
    ],
)
def test_hostile_xmp_is_refused_with_a_reason(packet, reason):
    with pytest.raises(RegionError, match=reason):
        read_regions(packet, (200, 120), 1)


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (_packet(_li("Zero", 0.5, 0.5, 0, 0.1)), "zero or unreadable size"),
        (_packet(_li("Away", 3.0, 3.0, 0.1, 0.1)), "outside the image"),
        (_packet(_li("Nodims", 0.5, 0.5, 0.1, 0.1), dims=""), "without AppliedToDimensions"),
        (
            _packet(_li("Other", 0.5, 0.5, 0.1, 0.1), dims='<mwg-rs:AppliedToDimensions stDim:w="100" stDim:h="100"/>'),
            "not this 200x120",
        ),
    ],
)
def test_bad_regions_are_skipped_with_a_reason(packet, reason):
    regions, skipped = read_regions(packet, (200, 120), 1)
    assert regions == [] and len(skipped) == 1 and reason in skipped[0]


def test_sidecar_update_changes_only_the_region_lists():
    other = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"
    xmlns:darktable="http://darktable.sf.net/" darktable:history_end="3"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""
    first = updated_sidecar(other, regions_description([Region("Alice", (10, 10, 20, 20))], (200, 120), 1))
    again = updated_sidecar(first, regions_description([Region("Alicia", (10, 10, 20, 20))], (200, 120), 1))
    assert "Alice<" not in again and again.count("Alicia") == 2  # MWG and Microsoft, once each
    assert again.replace(regions_description([Region("Alicia", (10, 10, 20, 20))], (200, 120), 1), "") == other
