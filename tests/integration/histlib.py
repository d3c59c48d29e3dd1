# SPDX-License-Identifier: ISC
"""The latency histogram of the rollups (lat_hist) in Python, written from
sql/README.md ("Latency histograms"), not from the C code: bucket of a
value, the encoding, and quantiles by rank, so the tests can check what
netdiagd stores and what netdiag prints against raw latencies, and build
histories of their own."""

SUB = 16
BUCKETS = SUB + 40 * SUB
FORMAT = 1


def bucket(v):
    """The bucket of a latency in µs (negative counts as 0)."""
    v = max(0, int(v))
    if v < SUB:
        return v
    e = v.bit_length() - 1
    if e >= 4 + 40:
        return BUCKETS - 1
    return SUB + (e - 4) * SUB + ((v >> (e - 4)) & (SUB - 1))


def upper(i):
    """The largest value bucket i holds (the last one holds all above)."""
    if i < SUB:
        return i
    if i >= BUCKETS - 1:
        return 2 ** 63 - 1
    e = (i - SUB) // SUB + 4
    sub = (i - SUB) % SUB
    return ((SUB + sub + 1) << (e - 4)) - 1


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def encode(counts):
    """{bucket: count} -> the blob; None when empty (stored as NULL)."""
    items = sorted((b, n) for b, n in counts.items() if n)
    if not items:
        return None
    out, prev = bytearray([FORMAT]), -1
    for b, n in items:
        out += _varint(b - prev - 1) + _varint(n)
        prev = b
    return bytes(out)


def encode_values(values):
    counts = {}
    for v in values:
        counts[bucket(v)] = counts.get(bucket(v), 0) + 1
    return encode(counts)


def decode(blob):
    """The blob -> {bucket: count}; ValueError for anything else."""
    if not blob:
        raise ValueError("empty")
    if blob[0] != FORMAT:
        raise ValueError("unknown format")
    pos, nxt, counts = 1, 0, {}

    def number():
        nonlocal pos
        v = shift = 0
        for i in range(10):
            if pos >= len(blob):
                raise ValueError("truncated")
            b = blob[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b == 0 and i > 0:
                    raise ValueError("not shortest")
                return v
        raise ValueError("too long")

    while pos < len(blob):
        gap, n = number(), number()
        b = nxt + gap
        if b >= BUCKETS or n == 0:
            raise ValueError("bad pair")
        counts[b] = n
        nxt = b + 1
    return counts


def merge(*hists):
    out = {}
    for h in hists:
        for b, n in h.items():
            out[b] = out.get(b, 0) + n
    return out


def rank(count, permille):
    """0-based rank a quantile of permille/1000 stands for: floor(count *
    permille / 1000), at most count - 1."""
    return min(count * permille // 1000, count - 1)


def quantile(counts, permille, maximum=None):
    """The value netdiag prints: the upper edge of the bucket of the value
    of that rank, at most the maximum."""
    total = sum(counts.values())
    if total == 0:
        return None
    want, seen = rank(total, permille), 0
    for b in sorted(counts):
        seen += counts[b]
        if seen > want:
            up = upper(b)
            return up if maximum is None else min(up, maximum)
    raise AssertionError("unreachable")


def raw_quantile(values, permille):
    """The same rank of the raw values themselves."""
    s = sorted(values)
    return s[rank(len(s), permille)]
