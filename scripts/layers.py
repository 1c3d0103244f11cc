#!/usr/bin/env python3
# layers.py — draws the layers of ferry's parts from the #include "..." lines in src/ and
# checks them: no include points up or sideways, only interface headers cross parts, no cycle.
"""Usage: scripts/layers.py [--root DIR] [--quiet]

Every file under src/ belongs to one part (PARTS, first match wins) and every part sits on
one layer (LAYERS, bottom first). The rules, each one a failure (exit 1):

  up        a file includes a file of a part on a higher layer;
  sideways  a file includes a file of another part on the same layer;
  interface a file includes a header of another part that is not that part's interface
            (INTERFACES): the other parts see a part only through its interface;
  bypass    a file includes a part that its part reaches only through another (BYPASS):
            the API goes through the task service, never to the store or the engine;
  mutual    two files include each other;
  cycle     files, or parts, include each other through a longer loop;
  unplaced  a file matches no part, or an include names no file in src/.

Adding a folder or a part means adding it to PARTS, LAYERS and INTERFACES here.
"""

import argparse
import fnmatch
import os
import re
import sys

# (part, patterns relative to src/); the first match wins.
PARTS = [
    ("task model", ["task/task_model.*", "task/task_json.c", "task/task_validate.c",
                    "task/task_state.c"]),
    ("task service", ["task/*"]),
    ("common", ["common/*"]),
    ("store", ["store/*"]),
    ("sched", ["sched/*"]),
    ("engine", ["engine/*"]),
    ("notify", ["notify/*"]),
    ("api", ["api/*"]),
    ("ferryd.c", ["ferryd.c"]),
    ("ctl", ["ctl/*"]),
]

# Bottom first. A file may include files of its own part and of the parts on lower layers.
LAYERS = [
    ["common"],
    # ctl (ferryctl) is a client of the HTTP API: it needs common alone, so it sits on the
    # lowest layer above it, where it can include neither the task model (sideways) nor
    # anything of ferryd above; no part includes it.
    ["task model", "ctl"],
    ["store", "sched", "engine"],
    ["notify"],
    ["task service"],
    ["api"],
    ["ferryd.c"],
]

# The headers other parts may include (patterns relative to src/).
INTERFACES = {
    "common": ["common/*.h"],
    "task model": ["task/task_model.h"],
    "store": ["store/store.h"],
    "sched": ["sched/sched.h"],
    "engine": ["engine/engine.h"],
    "notify": ["notify/notify.h"],
    "task service": ["task/task.h"],
    "api": ["api/api.h"],
    "ferryd.c": [],
    "ctl": [],
}

# Lower parts a part must not include although they are below it: it goes through another.
BYPASS = {
    "api": {"store": "task service", "engine": "task service"},
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def matches(path, patterns):
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def part_of(path):
    for part, patterns in PARTS:
        if matches(path, patterns):
            return part
    return None


def layer_of():
    return {part: i for i, parts in enumerate(LAYERS) for part in parts}


def source_files(src):
    """Every .c and .h file under src, as paths relative to src with '/' separators."""
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".c", ".h")):
                rel = os.path.relpath(os.path.join(dirpath, name), src)
                found.append(rel.replace(os.sep, "/"))
    return found


def resolve(src, including, name, files):
    """The file an #include "name" in `including` reads: its own folder first, then src/."""
    local = os.path.normpath(os.path.join(os.path.dirname(including), name)).replace(os.sep, "/")
    if local in files:
        return local
    top = os.path.normpath(name).replace(os.sep, "/")
    return top if top in files else None


def read_includes(src, files):
    """(edges, problems): edges maps a file to the set of files it includes."""
    edges, problems = {}, []
    fileset = set(files)
    for path in files:
        edges[path] = set()
        with open(os.path.join(src, path), encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                target = resolve(src, path, m.group(1), fileset)
                if target is None:
                    problems.append(("unplaced", f'{path}:{lineno}: #include "{m.group(1)}" '
                                     "names no file in src/"))
                else:
                    edges[path].add(target)
    return edges, problems


def strongly_connected(nodes, edges):
    """Tarjan's algorithm, iterative: the components with more than one node."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    return comps


def check_edges(edges, parts, layers):
    """The rule breaks of single includes: up, sideways, interface, bypass."""
    problems = []
    for path in sorted(edges):
        for target in sorted(edges[path]):
            a, b = parts[path], parts[target]
            if a is None or b is None or a == b:
                continue
            la, lb = layers[a], layers[b]
            if lb > la:
                problems.append(("up", f"{path} ({a}, layer {la}) includes {target} "
                                 f"({b}, layer {lb})"))
            elif lb == la:
                problems.append(("sideways", f"{path} ({a}) includes {target} ({b}), "
                                 f"both on layer {la}"))
            elif not matches(target, INTERFACES.get(b, [])):
                problems.append(("interface", f"{path} ({a}) includes {target}, which is not "
                                 f"an interface of {b}"))
            elif b in BYPASS.get(a, {}):
                problems.append(("bypass", f"{path} ({a}) includes {target}: {a} reaches {b} "
                                 f"only through the {BYPASS[a][b]}"))
    return problems


def check_cycles(edges, parts):
    problems = []
    for path in sorted(edges):
        if path in edges[path]:
            problems.append(("cycle", f"{path} includes itself"))
        for target in sorted(edges[path]):
            if path < target and path in edges.get(target, ()):
                problems.append(("mutual", f"{path} and {target} include each other"))
    for comp in strongly_connected(sorted(edges), edges):
        if len(comp) > 2:
            problems.append(("cycle", "files include each other in a loop: " + ", ".join(comp)))
    part_edges = part_graph(edges, parts)
    for comp in strongly_connected(sorted(part_edges), part_edges):
        problems.append(("cycle", "parts include each other in a loop: " + ", ".join(comp)))
    return problems


def part_graph(edges, parts):
    graph = {}
    for path, targets in edges.items():
        for target in targets:
            a, b = parts[path], parts[target]
            if a and b and a != b:
                graph.setdefault(a, set()).add(b)
    return graph


def draw(edges, parts, layers, out):
    """The layers top down, each part with the parts it includes, then the file-level
    includes that cross parts."""
    graph = part_graph(edges, parts)
    counts = {}
    for path in edges:
        counts[parts[path]] = counts.get(parts[path], 0) + 1
    out.write("layers (top down; a part may include its own files and the layers below):\n\n")
    for i in range(len(LAYERS) - 1, -1, -1):
        for j, part in enumerate(LAYERS[i]):
            deps = sorted(graph.get(part, ()), key=lambda p: (-layers[p], p))
            label = f"{i}  " if j == 0 else "   "
            out.write(f"  {label}{part:<13} {counts.get(part, 0):>3} files")
            out.write(f"  -> {', '.join(deps)}\n" if deps else "\n")
    out.write("\ncross-part includes (file -> header):\n")
    pairs = {}
    for path in sorted(edges):
        for target in sorted(edges[path]):
            a, b = parts[path], parts[target]
            if a and b and a != b:
                pairs.setdefault((a, b), []).append((path, target))
    order = sorted(pairs, key=lambda ab: (-layers[ab[0]], ab[0], -layers[ab[1]], ab[1]))
    for a, b in order:
        out.write(f"\n  {a} -> {b}\n")
        by_file = {}
        for path, target in pairs[(a, b)]:
            by_file.setdefault(path, []).append(target)
        for path in sorted(by_file):
            out.write(f"    {path}: {', '.join(by_file[path])}\n")


def main():
    ap = argparse.ArgumentParser(description="Draw and check the include layers of src/.")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--root", default=os.path.dirname(here), help="the repository (default: ..)")
    ap.add_argument("--quiet", action="store_true", help="print only the rule breaks")
    args = ap.parse_args()

    src = os.path.join(args.root, "src")
    files = source_files(src)
    if not files:
        print(f"layers: no sources under {src}", file=sys.stderr)
        return 2
    layers = layer_of()
    parts = {path: part_of(path) for path in files}
    problems = [("unplaced", f"{p} belongs to no part (add it to PARTS)")
                for p in files if parts[p] is None]
    problems += [("unplaced", f"part {p} has no layer (add it to LAYERS)")
                 for p in sorted(set(parts.values()) - {None}) if p not in layers]
    if problems:
        for kind, text in problems:
            print(f"{kind}: {text}")
        return 1
    edges, problems = read_includes(src, files)
    problems += check_edges(edges, parts, layers)
    problems += check_cycles(edges, parts)

    if not args.quiet:
        draw(edges, parts, layers, sys.stdout)
        print()
    n_edges = sum(len(t) for t in edges.values())
    if problems:
        print(f"{len(problems)} rule breaks in {len(files)} files, {n_edges} includes:")
        for kind, text in problems:
            print(f"  {kind:<9} {text}")
        return 1
    print(f"ok: {len(files)} files, {n_edges} includes; none points up, sideways or past the "
          "task service, only interfaces cross parts, no two files include each other, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
