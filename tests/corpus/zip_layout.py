"""The container facts of an archive, parsed from its bytes by hand.

zipfile hides what the tests care about (where each record's data starts,
the padding extra field torch adds to align it, ZIP64 records, data
descriptors), so the headers are decoded here field by field with struct.
"""
import hashlib
import struct
import zipfile

EOCD_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
CENTRAL_SIGNATURE = 0x02014B50
DATA_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
TORCH_PADDING_ID = 0x4246  # "FB": torch's alignment padding, filled with 'Z'
ZIP64_ID = 0x0001


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def parse_extra(extra):
    """The extra fields of one header, in order; unknown ones as hex."""
    fields = []
    pos = 0
    while pos + 4 <= len(extra):
        field_id, length = struct.unpack("<HH", extra[pos:pos + 4])
        body = extra[pos + 4:pos + 4 + length]
        field = {"id": "0x%04x" % field_id, "len": length}
        if field_id == TORCH_PADDING_ID:
            field["name"] = "FB (alignment padding)"
            field["all_Z"] = body == b"Z" * length
        elif field_id == ZIP64_ID:
            field["name"] = "ZIP64"
            field["u64_values"] = [struct.unpack("<Q", body[i:i + 8])[0]
                                   for i in range(0, len(body) - 7, 8)]
        else:
            field["data_hex"] = body.hex()
        fields.append(field)
        pos += 4 + length
    if pos != len(extra):
        fields.append({"trailing_bytes_hex": extra[pos:].hex()})
    return fields


def _end_records(data):
    """(facts, central directory offset, size): EOCD, and ZIP64 ones when present."""
    eocd = data.rfind(EOCD_SIGNATURE)
    (_, _, _, n_disk, n_total, cd_size, cd_offset, comment_len) = struct.unpack(
        "<IHHHHIIH", data[eocd:eocd + 22])
    facts = {"eocd": {"offset": eocd, "entries_this_disk": n_disk, "entries_total": n_total,
                      "cd_size": cd_size, "cd_offset": cd_offset, "comment_len": comment_len},
             "zip64_locator": None, "zip64_eocd": None}
    locator = eocd - 20
    if locator >= 0 and data[locator:locator + 4] == ZIP64_LOCATOR_SIGNATURE:
        _, _, z64_offset, disks = struct.unpack("<IIQI", data[locator:locator + 20])
        (_, record_size, made_by, needed, _, _, _, entries, cd_size, cd_offset) = struct.unpack(
            "<IQHHIIQQQQ", data[z64_offset:z64_offset + 56])
        facts["zip64_locator"] = {"offset": locator, "zip64_eocd_offset": z64_offset,
                                  "total_disks": disks}
        facts["zip64_eocd"] = {"offset": z64_offset, "record_size": record_size,
                               "version_made_by": "0x%04x" % made_by,
                               "version_needed": "0x%04x" % needed, "entries": entries,
                               "cd_size": cd_size, "cd_offset": cd_offset}
    return facts, cd_offset, cd_size


def _entry(data, pos, archive):
    """(facts of the central directory entry at `pos`, position of the next one)."""
    (signature, made_by, needed, flags, method, dos_time, dos_date, crc, csize, usize,
     name_len, extra_len, comment_len, _, internal_attr, external_attr,
     local_offset) = struct.unpack("<IHHHHHHIIIHHHHHII", data[pos:pos + 46])
    assert signature == CENTRAL_SIGNATURE, "central directory entry expected at %d" % pos
    name = data[pos + 46:pos + 46 + name_len].decode("utf-8")
    central_extra = data[pos + 46 + name_len:pos + 46 + name_len + extra_len]
    next_pos = pos + 46 + name_len + extra_len + comment_len

    # Fields saturated at 0xFFFFFFFF continue in the ZIP64 extra field, in this order.
    zip64 = [f for f in parse_extra(central_extra) if f.get("name") == "ZIP64"]
    wide = list(zip64[0]["u64_values"]) if zip64 else []
    real_usize = wide.pop(0) if usize == 0xFFFFFFFF else usize
    real_csize = wide.pop(0) if csize == 0xFFFFFFFF else csize
    real_offset = wide.pop(0) if local_offset == 0xFFFFFFFF else local_offset

    (_, l_needed, l_flags, l_method, l_time, l_date, l_crc, l_csize, l_usize, l_name_len,
     l_extra_len) = struct.unpack("<IHHHHHIIIHH", data[real_offset:real_offset + 30])
    local_extra = data[real_offset + 30 + l_name_len:real_offset + 30 + l_name_len + l_extra_len]
    data_offset = real_offset + 30 + l_name_len + l_extra_len

    descriptor = None
    if l_flags & 8:
        after = data_offset + real_csize
        if data[after:after + 4] == DATA_DESCRIPTOR_SIGNATURE:
            is_zip64 = any(f.get("name") == "ZIP64" for f in parse_extra(local_extra))
            descriptor = {"signature": True, "length": 24 if is_zip64 else 16}
        else:
            descriptor = {"signature": False}

    actual_crc = zipfile.crc32(archive.read(name)) & 0xFFFFFFFF
    facts = {
        "name": name,
        "local_header_offset": real_offset,
        "data_offset": data_offset,
        "data_offset_mod_64": data_offset % 64,
        "method": method,
        "compressed_size": real_csize,
        "uncompressed_size": real_usize,
        "crc32": "%08x" % crc,
        "crc32_matches_data": actual_crc == crc,
        "central": {"version_made_by": made_by, "version_needed": needed,
                    "flags": "0x%04x" % flags, "dos_time": dos_time, "dos_date": dos_date,
                    "internal_attr": internal_attr, "external_attr": "0x%08x" % external_attr,
                    "extra": parse_extra(central_extra)},
        "local": {"version_needed": l_needed, "flags": "0x%04x" % l_flags, "method": l_method,
                  "dos_time": l_time, "dos_date": l_date, "crc32_field": "%08x" % l_crc,
                  "compressed_size_field": l_csize, "uncompressed_size_field": l_usize,
                  "extra": parse_extra(local_extra)},
        "data_descriptor": descriptor,
    }
    return facts, next_pos


def describe_zip(path):
    """Every header of the archive at `path` (relative: it is recorded as given)."""
    with open(path, "rb") as f:
        data = f.read()
    facts = {"file": path, "size": len(data), "sha256": sha256(data)}
    end, cd_offset, cd_size = _end_records(data)
    facts.update(end)
    entries = []
    with zipfile.ZipFile(path) as archive:
        pos = cd_offset
        while pos < cd_offset + cd_size:
            entry, pos = _entry(data, pos, archive)
            entries.append(entry)
    facts["entries"] = entries
    first = entries[0]["name"] if entries else ""
    facts["archive_prefix_from_first_entry"] = first.split("/", 1)[0] if "/" in first else None
    return facts
