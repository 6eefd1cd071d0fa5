"""What stylert reads of an ONNX file itself, without the onnx package (the runtime does not
need it): whether the bytes are a well-formed ModelProto, and which external data files its
tensors name, so a package can be refused before ONNX Runtime opens a file that names data
outside the package (ONNX Runtime would refuse it too, with a traceback-shaped error).

Protocol buffers' wire format: a field is a varint key (number << 3 | wire type) and a
value; ModelProto.graph is field 7, GraphProto.node 1 and .initializer 5, NodeProto.attribute
5, AttributeProto.t 5, .g 6, .tensors 10, .graphs 11, TensorProto.external_data 13
(StringStringEntryProto: key 1, value 2), in onnx/onnx.proto.
"""

from __future__ import annotations

from typing import Iterator, List, Tuple


def _varint(buf: memoryview, i: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated or malformed varint")
        b = buf[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b & 0x80:
            return value, i


def _fields(buf: memoryview) -> Iterator[Tuple[int, memoryview]]:
    """(field number, bytes) of each length-delimited field; other wire types are skipped."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ValueError("a field runs past the end of the file")
            yield field, buf[i:i + n]
            i += n
        else:
            raise ValueError(f"wire type {wire} is not used by ONNX")
        if field == 0 or i > len(buf):
            raise ValueError("malformed field")


def _tensor_locations(tensor: memoryview) -> Iterator[str]:
    for field, value in _fields(tensor):
        if field == 13:
            entry = dict(_fields(value))
            if bytes(entry.get(1, b"")) == b"location":
                yield bytes(entry.get(2, b"")).decode("utf-8", "replace")


def _graph_locations(graph: memoryview) -> Iterator[str]:
    for field, value in _fields(graph):
        if field == 5:  # initializer
            yield from _tensor_locations(value)
        elif field == 1:  # node: tensors and subgraphs in its attributes
            for nfield, attr in _fields(value):
                if nfield != 5:
                    continue
                for afield, item in _fields(attr):
                    if afield in (5, 10):
                        yield from _tensor_locations(item)
                    elif afield in (6, 11):
                        yield from _graph_locations(item)


def external_data(data: bytes) -> List[str]:
    """The external data files an ONNX model's tensors name (relative to the model's folder);
    ValueError when the bytes are not a well-formed ModelProto with a graph."""
    buf = memoryview(data)
    graphs = [value for field, value in _fields(buf) if field == 7]
    if len(graphs) != 1:
        raise ValueError("no graph in it")
    return sorted(set(_graph_locations(graphs[0])))
