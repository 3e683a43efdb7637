# python.py — a real program: CPython with PYTHONMALLOC=malloc, so that
# every object goes to the allocator under test instead of pymalloc's
# arenas. Model: the object-heavy parts of pyperformance (json_dumps and
# json_loads, dict and list building, sorting, string joins), one process.
# Stresses: very many small objects (dicts, tuples, strings, ints) of mixed
# lifetimes, the resizing of dicts and lists, and a large heap freed at the
# end.
#   PYTHONMALLOC=malloc python3 python.py SCALE
import json
import sys

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
n = max(1000, int(80000 * scale))
seed = 12345


def rnd():
    global seed
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed


records = [{"id": i, "name": "user%d" % i, "tags": ["t%d" % (rnd() % 97) for _ in range(i % 5)],
            "score": (rnd() % 100000) / 1000.0, "pos": (rnd() % 640, rnd() % 480)} for i in range(n)]
text = json.dumps(records)
back = json.loads(text)
back.sort(key=lambda r: (r["score"], r["id"]))
groups = {}
for r in back:
    for t in r["tags"]:
        groups.setdefault(t, []).append(r["id"])
parts = ["%x" % (i * 2654435761 % 4294967296) * (1 + i % 5) for i in range(n)]
joined = ",".join(parts)
words = joined.split(",")
index = {w: i for i, w in enumerate(words)}
for rnd_ in range(4):
    tmp = {(i, rnd_): [i, str(i), (i, i + 1)] for i in range(n // 2)}
    del tmp
del records, text, back, parts, joined
print("groups %d words %d" % (len(groups), len(index)))
