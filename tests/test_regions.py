"""XMP face regions: the geometry against Pillow's own EXIF transposes, and hostile XMP."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image, ImageOps

from photoface.regions import (
    MAX_REGIONS,
    MAX_XMP_BYTES,
    Reading,
    Region,
    RegionError,
    StatedRegion,
    area_to_box,
    box_to_area,
    box_to_rectangle,
    choose_reading,
    dims_frame,
    iou,
    place,
    read_regions,
    read_stated,
    readings,
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


def _li(name: str, x: float | str, y: float | str, w: float | str, h: float | str) -> str:
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
        (_packet(_li("Zero", 0.5, 0.5, 0, 0.1)), "'Zero' has a zero or unreadable size (area 0.5, 0.5, 0, 0.1)"),
        (_packet(_li("Away", 3.0, 3.0, 0.1, 0.1)), "'Away' lies outside the image (area 3, 3, 0.1, 0.1)"),
        (_packet(_li("Far", -40.0, 0.5, 0.1, 0.1)), "'Far' lies outside the image (area -40, 0.5, 0.1, 0.1)"),
        (_packet(_li("Pixels", 0, 0, 8, 8), dims=""), "'Pixels' is larger than the image: not a normalised area"),
        (_packet(_li("A" * 10_000, 0.5, 0.5, 0.1, 0.1)), "(10,000 characters) is over 200 characters"),
        (_packet(_li("Bob\u009b31m", 0.5, 0.5, 0.1, 0.1)), "name 'Bob\\x9b31m' has control characters"),
        (_packet(_li("Bob&#x7f;", 0.5, 0.5, 0.1, 0.1)), "name 'Bob\\x7f' has control characters"),
    ],
    ids=["zero", "outside", "far outside", "pixels", "long name", "terminal escape", "delete"],
)
def test_bad_regions_are_skipped_with_a_one_line_reason_naming_the_value(packet, reason):
    regions, skipped = read_regions(packet, (200, 120), 1)
    assert regions == [] and len(skipped) == 1 and reason in skipped[0]
    assert "\n" not in skipped[0] and len(skipped[0]) < 200


@pytest.mark.parametrize(
    "dims",
    [
        "",  # digiKam, Microsoft, many others: no AppliedToDimensions
        '<mwg-rs:AppliedToDimensions stDim:unit="pixel"/>',  # osxphotos: the unit alone
        '<mwg-rs:AppliedToDimensions stDim:w="12" stDim:h="9" stDim:unit="pixel"/>',  # another aspect
        '<mwg-rs:AppliedToDimensions stDim:w="1697" stDim:h="1132" stDim:unit="pixel"/>',  # the original's size
    ],
)
def test_regions_are_read_whatever_the_dimensions_say(dims):
    regions, skipped = read_regions(_packet(_li("Alice", 0.25, 0.5, 0.1, 0.2), dims=dims), (200, 120), 1)
    assert skipped == [] and [r.name for r in regions] == ["Alice"]
    np.testing.assert_allclose(regions[0].box, (40, 48, 20, 24))


def test_decimal_commas_are_read():
    regions, _ = read_regions(_packet(_li("Alice", "0,25", "0,5", "0,1", "0,2")), (200, 120), 1)
    np.testing.assert_allclose(regions[0].box, (40, 48, 20, 24))


def test_pixel_areas_are_divided_by_their_dimensions():
    item = (
        '<rdf:li><rdf:Description mwg-rs:Name="Alice" mwg-rs:Type="Face"><mwg-rs:Area stArea:x="50" '
        'stArea:y="60" stArea:w="20" stArea:h="24" stArea:unit="pixel"/></rdf:Description></rdf:li>'
    )
    regions, _ = read_regions(_packet(item), (200, 120), 1)
    np.testing.assert_allclose(regions[0].box, (40, 48, 20, 24))


def test_types_other_than_face_are_skipped_with_the_reason_in_both_lists():
    pet = _li("Bo", 0.5, 0.5, 0.1, 0.1).replace('mwg-rs:Type="Face"', 'mwg-rs:Type="Pet"')
    focus = _li("", 0.2, 0.2, 0.1, 0.1).replace('mwg-rs:Type="Face"', 'mwg-rs:Type="Focus"')
    packet = _packet(pet + focus).replace(
        b"</rdf:Description></rdf:RDF>",
        b"""<MP:RegionInfo xmlns:MP="http://ns.microsoft.com/photo/1.2/" rdf:parseType="Resource"
          xmlns:MPRI="http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
          xmlns:MPReg="http://ns.microsoft.com/photo/1.2/t/Region#"><MPRI:Regions><rdf:Bag>
          <rdf:li MPReg:PersonDisplayName="Bo" MPReg:Rectangle="0.45, 0.45, 0.1, 0.1"/></rdf:Bag></MPRI:Regions>
          </MP:RegionInfo></rdf:Description></rdf:RDF>""",
    )
    stated = read_stated(packet)
    assert stated.regions == []
    assert stated.skipped == [
        "region 'Bo' is of type 'Pet', not a face",
        "an unnamed region is of type 'Focus', not a face",
        "Microsoft region 'Bo' repeats a region that is not a face",
    ]


def test_what_follows_the_packet_end_is_not_read():
    """A tool that rewrote a shorter packet in place left the old one's tail after the end marker."""
    packet = b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>' + _packet(_li("Alice", 0.25, 0.5, 0.1, 0.2))
    packet += b'\n<?xpacket end="r"?>li>\n </rdf:Bag></x:xmpmeta>\n<?xpacket end="r"?>'
    assert [r.name for r in read_regions(packet, (200, 120), 1)[0]] == ["Alice"]


def test_a_packet_of_many_thousand_regions_reads_the_first_ones_quickly():
    many = "".join(_li(f"P{i}", (i % 50) / 50 + 0.01, (i // 50) / 1000, 0.01, 0.01) for i in range(20_000))
    packet = _packet(many)
    assert len(packet) < MAX_XMP_BYTES
    started = time.monotonic()
    stated = read_stated(packet)
    assert len(stated.regions) == MAX_REGIONS and stated.skipped == ["19,500 regions past the first 500 skipped"]
    assert time.monotonic() - started < 10


# A face in the stored frame at the stored image's left, three ways to read it for orientation 6.
AREA = StatedRegion("Alice", (0.2, 0.5, 0.1, 0.2))
STORED_READING = Reading("stored", 6)
UPRIGHT_READING = Reading("upright", 1)


def test_the_reading_follows_the_faces():
    upright = (120, 200)  # stored 200x120, orientation 6
    on_stored = place(AREA, STORED_READING, upright).box
    on_upright = place(AREA, UPRIGHT_READING, upright).box
    options = [STORED_READING, UPRIGHT_READING]
    assert choose_reading([AREA], options, upright, [on_stored]) == (STORED_READING, 1)
    assert choose_reading([AREA], options, upright, [on_upright]) == (UPRIGHT_READING, 1)
    assert choose_reading([AREA], options, upright, []) == (STORED_READING, 0), "no face: the standard's reading"


def test_a_reading_that_fits_as_well_does_not_beat_the_likelier_one():
    """A mirrored photo (orientation 2) with a face in the middle: both readings hit it."""
    middle = StatedRegion("Alice", (0.5, 0.5, 0.2, 0.2))
    options = readings(None, (200, 120), 2)
    face = place(middle, options[0], (200, 120)).box
    assert choose_reading([middle], options, (200, 120), [face])[0] == options[0]


@pytest.mark.parametrize(
    ("dims", "upright", "orientation", "frame", "first"),
    [
        ((120, 200), (120, 200), 6, "transposed", 6),  # Lightroom 5-8: upright dimensions, stored areas
        ((200, 120), (120, 200), 6, "stored", 6),
        (None, (120, 200), 8, "missing", 8),
        ((4032, 3024), (150, 200), 1, "transposed", 6),  # a phone photo turned upright, its orientation dropped
    ],
)
def test_readings_keep_every_convention_with_the_likeliest_first(dims, upright, orientation, frame, first):
    options = readings(dims, upright, orientation)
    assert dims_frame(dims, stored_size(upright, orientation)) == frame
    assert options[0].orientation == first and len({o.orientation for o in options}) == len(options) > 1


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
