"""The fixture encoder of test_tfevents (tests/data/tfevents/make_fixtures.py)
checked against records other implementations wrote, so that the C
reader's unit test does not rest on an encoder that shares its mistakes:
the CRC-32C check value, TensorFlow's and tensorboard_logger's published
records reproduced byte for byte, both repeated-field encodings on the
wire, and every fixture file framed correctly and decodable."""
import os
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "data", "tfevents"))
import make_fixtures as mf  # noqa: E402

# From TensorFlow's event_file_loader_test and tensorboard_logger's tests.
TF_RECORD = (b'\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7fK"\t\x00\x00\xc0%\xddu'
             b'\xd5A\x1a\rbrain.Event:1\xec\xf32\x8d')
TBL_RECORD = (b'\x19\x00\x00\x00\x00\x00\x00\x00\x8b\xf1\x08(\t\x00\x00\x00\x00\x00\x08p@'
              b'\x10\x01*\x0c\n\n\n\x03v/1\x15\x00\x00\xc0?,\xec\xc0\x87')


def test_crc32c_check_value():
    assert mf.crc32c(b"123456789") == 0xE3069283


def test_reproduces_published_records():
    e = mf.Packed(wall_time=struct.unpack("<d", b"\x00\x00\xc0%\xddu\xd5A")[0],
                  file_version="brain.Event:1")
    assert mf.frame(e.SerializeToString()) == TF_RECORD
    e = mf.Packed(wall_time=256.5, step=1)
    e.summary.value.add(tag="v/1", simple_value=1.5)
    assert mf.frame(e.SerializeToString()) == TBL_RECORD


def test_both_repeated_encodings():
    packed = mf.Packed()
    t = packed.summary.value.add(tag="x").tensor
    t.float_val[:] = [1.0]
    unpacked = mf.Unpacked()
    t = unpacked.summary.value.add(tag="x").tensor
    t.float_val[:] = [1.0]
    # field 5: wire type 2 (0x2a) when packed, wire type 5 (0x2d) when not
    assert b"\x2a\x04\x00\x00\x80\x3f" in packed.SerializeToString()
    assert b"\x2d\x00\x00\x80\x3f" in unpacked.SerializeToString()


def _records(path):
    data = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        ok = (struct.unpack_from("<I", data, pos + 8)[0] == mf.masked(data[pos:pos + 8])
              and pos + 16 + length <= len(data)
              and struct.unpack_from("<I", data, pos + 12 + length)[0]
              == mf.masked(data[pos + 12:pos + 12 + length]))
        out.append((ok, data[pos + 12:pos + 12 + length]))
        if not ok:
            break
        pos += 16 + length
    return out


def test_fixture_files_decode():
    with tempfile.TemporaryDirectory() as out:
        mf.main(out)
        recs = _records(os.path.join(out, "enc", "events.out.tfevents.1700000000.host"))
        assert len(recs) == 7 and all(ok for ok, _ in recs)
        event = mf.Packed.FromString(recs[1][1])
        assert event.step == 1 and event.wall_time == mf.wall(1)
        tags = [v.tag for v in event.summary.value]
        assert tags[:3] == ["epoch_accuracy", "validation/accuracy", "training/hptuning/metric"]
        unpacked = mf.Unpacked.FromString(recs[2][1])
        assert list(unpacked.summary.value[1].tensor.double_val) == [0.1 + 6, 99]
        # the corrupted fixtures really are corrupt at record 2
        recs = _records(os.path.join(out, "corrupt_data", "events.out.tfevents.1"))
        assert [ok for ok, _ in recs] == [True, False]
        recs = _records(os.path.join(out, "corrupt_len", "events.out.tfevents.1"))
        assert [ok for ok, _ in recs] == [True, False]
