#!/usr/bin/env python3
"""CPU per record by symbol, from a `perf record -e cpu-clock -F 1999` of the benchmark.

    bench/perf-per-record.py PERF_DATA RECORDS [TOP]

Reads `perf script` of PERF_DATA and keeps the samples of the last child process the
benchmark started (with `--only throughput`, the one run as users run it), prints its CPU
per record (samples / 1999 Hz / RECORDS) on its own threads and on librdkafka's (`rdk:*`),
then its TOP (default 40) symbols on its own threads. Used as DEVELOPMENT.md#profiling says.
perf's own `--pid` and `--tid` filters are not used: they drop most samples of these runs.
"""

import collections
import re
import subprocess
import sys

HZ = 1999
SAMPLE = re.compile(r"\s*(?P<comm>.*?)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+[0-9a-f]+\s+(?P<sym>.*)$")


def main() -> None:
    data, records = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    script = subprocess.run(
        ["perf", "script", "-i", data, "-G", "-F", "pid,tid,comm,ip,sym"],
        capture_output=True, text=True, check=True,
    ).stdout
    samples = [m.groupdict() for m in map(SAMPLE.match, script.splitlines()) if m]
    # Process ids grow: the last process whose main thread sampled is the last child.
    child = max(int(s["pid"]) for s in samples if s["pid"] == s["tid"])
    own = collections.Counter()
    librdkafka = 0
    for s in samples:
        if int(s["pid"]) != child:
            continue
        if s["comm"].startswith(("rdk:", "producer")):
            librdkafka += 1
        else:
            own[re.sub(r"\+0x[0-9a-f]+$", "", s["sym"].strip())] += 1
    ns = lambda n: n / HZ * 1e9 / records
    print(f"process {child}: {ns(sum(own.values())):.0f} ns a record on its own threads, "
          f"{ns(librdkafka):.0f} on librdkafka's")
    for symbol, n in own.most_common(top):
        print(f"{ns(n):7.1f}  {symbol}")


if __name__ == "__main__":
    main()
