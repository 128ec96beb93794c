#!/usr/bin/python3
"""Writes TensorFlow event-file fixtures for tests/unit/test_tfevents.c.

An encoder independent of the C reader: the Event, Summary, Summary.Value,
TensorProto (and the pieces they use) messages are declared at run time
from the field numbers published in TensorFlow's event.proto,
summary.proto and tensor.proto, serialized by google.protobuf (Debian's
python3-protobuf), and framed as TFRecords with a CRC-32C computed here.

Usage: make_fixtures.py OUTDIR   (OUTDIR is created; files listed below)

The values are a function of the step so the C test can recompute them:
value(step) = 0.1 * step (+ an offset per tag), wall_time(step) =
1700000000.25 + step. The C test holds the same constants.
"""
import os
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto


def _field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, packed=None):
    f = msg.field.add()
    f.name, f.number, f.type, f.label = name, number, ftype, label
    if type_name:
        f.type_name = type_name
    if packed is not None:
        f.options.packed = packed
    return f


def _classes(packed):
    """Event and the messages it needs; packed chooses how TensorProto's
    float_val and double_val are written (both encodings are legal)."""
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "hpt_tfevents_fixture_%s.proto" % ("packed" if packed else "unpacked")
    fdp.package = "fixture_%s" % ("packed" if packed else "unpacked")
    fdp.syntax = "proto3"
    pkg = "." + fdp.package
    rep = F.LABEL_REPEATED

    dim = fdp.message_type.add(name="TensorShapeProto")
    d = dim.nested_type.add(name="Dim")
    _field(d, "size", 1, F.TYPE_INT64)
    _field(d, "name", 2, F.TYPE_STRING)
    _field(dim, "dim", 2, F.TYPE_MESSAGE, rep, pkg + ".TensorShapeProto.Dim")
    _field(dim, "unknown_rank", 3, F.TYPE_BOOL)

    t = fdp.message_type.add(name="TensorProto")
    _field(t, "dtype", 1, F.TYPE_INT32)  # enum DataType on the wire: a varint
    _field(t, "tensor_shape", 2, F.TYPE_MESSAGE, type_name=pkg + ".TensorShapeProto")
    _field(t, "version_number", 3, F.TYPE_INT32)
    _field(t, "tensor_content", 4, F.TYPE_BYTES)
    _field(t, "float_val", 5, F.TYPE_FLOAT, rep, packed=packed)
    _field(t, "double_val", 6, F.TYPE_DOUBLE, rep, packed=packed)
    _field(t, "int_val", 7, F.TYPE_INT32, rep, packed=packed)
    _field(t, "string_val", 8, F.TYPE_BYTES, rep)

    meta = fdp.message_type.add(name="SummaryMetadata")
    pd = meta.nested_type.add(name="PluginData")
    _field(pd, "plugin_name", 1, F.TYPE_STRING)
    _field(pd, "content", 2, F.TYPE_BYTES)
    _field(meta, "plugin_data", 1, F.TYPE_MESSAGE, type_name=pkg + ".SummaryMetadata.PluginData")
    _field(meta, "display_name", 2, F.TYPE_STRING)
    _field(meta, "summary_description", 3, F.TYPE_STRING)

    s = fdp.message_type.add(name="Summary")
    v = s.nested_type.add(name="Value")
    v.oneof_decl.add(name="value")
    _field(v, "node_name", 7, F.TYPE_STRING)
    _field(v, "tag", 1, F.TYPE_STRING)
    _field(v, "metadata", 9, F.TYPE_MESSAGE, type_name=pkg + ".SummaryMetadata")
    for name, number, ftype, tname in (("simple_value", 2, F.TYPE_FLOAT, None),
                                       ("obsolete_old_style_histogram", 3, F.TYPE_BYTES, None),
                                       ("tensor", 8, F.TYPE_MESSAGE, pkg + ".TensorProto")):
        _field(v, name, number, ftype, type_name=tname).oneof_index = 0
    _field(s, "value", 1, F.TYPE_MESSAGE, rep, pkg + ".Summary.Value")

    e = fdp.message_type.add(name="Event")
    e.oneof_decl.add(name="what")
    _field(e, "wall_time", 1, F.TYPE_DOUBLE)
    _field(e, "step", 2, F.TYPE_INT64)
    _field(e, "file_version", 3, F.TYPE_STRING).oneof_index = 0
    _field(e, "graph_def", 4, F.TYPE_BYTES).oneof_index = 0
    _field(e, "summary", 5, F.TYPE_MESSAGE, type_name=pkg + ".Summary").oneof_index = 0

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName(fdp.package + ".Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def _crc32c_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload):
    length = struct.pack("<Q", len(payload))
    return length + struct.pack("<I", masked(length)) + payload + struct.pack("<I", masked(payload))


Packed = _classes(True)
Unpacked = _classes(False)
DT_FLOAT, DT_DOUBLE = 1, 2


def wall(step):
    return 1700000000.25 + step


def version_event():
    e = Packed(wall_time=wall(0), step=0, file_version="brain.Event:2")
    return e.SerializeToString()


def all_encodings(step):
    """One event with the same step in every scalar encoding, plus values
    that are not scalars (which the reader must skip)."""
    v = 0.1 * step
    e = Packed(wall_time=wall(step), step=step)
    s = e.summary.value
    a = s.add(tag="epoch_accuracy", simple_value=v)                  # TF1 / Keras style
    a.metadata.plugin_data.plugin_name = "scalars"
    t = s.add(tag="validation/accuracy", node_name="ignored").tensor  # TF2 float_val
    t.dtype, t.float_val[:] = DT_FLOAT, [v + 1]
    t.tensor_shape.SetInParent()
    t = s.add(tag="training/hptuning/metric").tensor                  # double_val, packed
    t.dtype, t.double_val[:] = DT_DOUBLE, [v + 2]
    t = s.add(tag="content/float").tensor                             # tensor_content DT_FLOAT
    t.dtype, t.tensor_content = DT_FLOAT, struct.pack("<f", v + 3)
    t = s.add(tag="content/double").tensor                            # tensor_content DT_DOUBLE
    t.dtype, t.tensor_content = DT_DOUBLE, struct.pack("<d", v + 4)
    t = s.add(tag="not/scalar").tensor                                # two floats: not a scalar
    t.dtype, t.tensor_content = DT_FLOAT, struct.pack("<ff", 1, 2)
    s.add(tag="histogram", obsolete_old_style_histogram=b"\x01\x02")  # no scalar
    t = s.add(tag="int/value").tensor                                 # DT_INT32: not read
    t.dtype, t.int_val[:] = 3, [7]
    out = e.SerializeToString()
    u = Unpacked(wall_time=wall(step), step=step)
    t = u.summary.value.add(tag="unpacked/float").tensor
    t.dtype, t.float_val[:] = DT_FLOAT, [v + 5, 99]
    t = u.summary.value.add(tag="unpacked/double").tensor
    t.dtype, t.double_val[:] = DT_DOUBLE, [v + 6, 99]
    return out + b"", u.SerializeToString()


def scalar(tag, step, value):
    e = Packed(wall_time=wall(step), step=step)
    e.summary.value.add(tag=tag, simple_value=value)
    return e.SerializeToString()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main(out):
    # enc/: every encoding, steps 1..3, after a file_version event.
    data = frame(version_event())
    for step in (1, 2, 3):
        for payload in all_encodings(step):
            data += frame(payload)
    write(os.path.join(out, "enc", "events.out.tfevents.1700000000.host"), data)

    # grow.bin: two records the test appends in pieces.
    write(os.path.join(out, "grow.bin"), frame(scalar("loss", 10, 0.5)) + frame(scalar("loss", 11, 0.25)))

    # corrupt_data/: record 2 of 3 with a data byte flipped.
    recs = [frame(scalar("m", s, s * 0.5)) for s in (1, 2, 3)]
    bad = bytearray(recs[1])
    bad[12 + 3] ^= 0x40
    write(os.path.join(out, "corrupt_data", "events.out.tfevents.1"), recs[0] + bytes(bad) + recs[2])

    # corrupt_len/: record 2 of 3 with a length byte flipped.
    bad = bytearray(recs[1])
    bad[0] ^= 0x01
    write(os.path.join(out, "corrupt_len", "events.out.tfevents.1"), recs[0] + bytes(bad) + recs[2])

    # nested/: two files at different depths, plus a file whose name does
    # not match (ignored).
    write(os.path.join(out, "nested", "a", "b", "events.out.tfevents.1.host"), frame(scalar("n", 1, 1.5)))
    write(os.path.join(out, "nested", "c", "events.out.tfevents.2.host"), frame(scalar("n", 2, 2.5)))
    write(os.path.join(out, "nested", "c", "other.tfevents"), frame(scalar("n", 3, 3.5)))

    # big/: a record larger than the reader's 1 MiB read chunk (a graph_def,
    # as TF writes first), then a scalar and a scalar inside a big event.
    graph = Packed(wall_time=wall(6), step=6, graph_def=b"g" * 1500000)
    sv = Packed(wall_time=wall(8), step=8)
    sv.summary.value.add(tag="big", simple_value=8.0)
    sv.summary.value.add(tag="pad", tensor={"dtype": DT_FLOAT, "tensor_content": b"p" * 1200000})
    write(os.path.join(out, "big", "events.out.tfevents.1"),
          frame(graph.SerializeToString()) + frame(scalar("big", 7, 7.0)) + frame(sv.SerializeToString()))

    # rot1.bin, rot2.bin: the contents of a first and a rotated file.
    write(os.path.join(out, "rot1.bin"), frame(scalar("r", 1, 1.0)) + frame(scalar("r", 2, 2.0)))
    write(os.path.join(out, "rot2.bin"), frame(scalar("r", 3, 3.0)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUTDIR")
    main(sys.argv[1])
