"""Protocol Buffers messages <-> plain Python values."""

import json

from google.protobuf.descriptor import FieldDescriptor

from ._generated import cohorts_pb2


def message_to_dict(message):
    """Every field of `message` (defaults included) as a dict of plain Python values: int64 stay
    ints (json_format would make them strings), repeated fields are lists, messages dicts."""
    result = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.label == FieldDescriptor.LABEL_REPEATED:
                result[field.name] = [message_to_dict(v) for v in value]
            else:
                result[field.name] = message_to_dict(value)
        elif field.label == FieldDescriptor.LABEL_REPEATED:
            result[field.name] = list(value)
        else:
            result[field.name] = value
    return result


def volume_to_dict(volume):
    """A HarmonizedVolume as a dict, with its QC values also parsed into `qc_metrics`."""
    result = message_to_dict(volume)
    try:
        result["qc_metrics"] = json.loads(volume.qc_metrics_json) if volume.qc_metrics_json else {}
    except ValueError:
        result["qc_metrics"] = {}
    return result


def filters_to_query(filters, exclude_duplicates=False):
    """Builds a VolumeQuery from filters given as a dict ({"modality": "MR"}; a list value gives
    one filter per item), a list of "KEY=VALUE" strings, or a list of (key, value) pairs; None
    means no filter. A (low, high) tuple value is a range, "LOW..HIGH", either end None for
    open: {"age": (20, 40), "spacing": (None, 1.5)}."""
    query = cohorts_pb2.VolumeQuery(exclude_duplicates=bool(exclude_duplicates))
    if filters is None:
        return query
    if isinstance(filters, dict):
        pairs = []
        for key, value in filters.items():
            values = value if isinstance(value, list) else [value]
            pairs.extend((key, v) for v in values)
    elif isinstance(filters, (list, tuple)):
        pairs = []
        for item in filters:
            if isinstance(item, str):
                key, sep, value = item.partition("=")
                if not sep or not key:
                    raise ValueError(f"filter {item!r} is not KEY=VALUE")
                pairs.append((key, value))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                pairs.append((item[0], item[1]))
            else:
                raise ValueError(f"filter {item!r} is neither 'KEY=VALUE' nor a (key, value) pair")
    else:
        raise TypeError("filters must be a dict, a list or None")
    for key, value in pairs:
        query.filters.add(key=str(key), value=_filter_value(value))
    return query


def _filter_value(value):
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(f"range {value!r} is not (low, high)")
        low, high = ("" if end is None else _filter_value(end) for end in value)
        return f"{low}..{high}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
