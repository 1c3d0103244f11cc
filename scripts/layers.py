#!/usr/bin/env python3
# layers.py — draws the layers of ferry's parts from the #include "..." lines in src/ and
# checks them: no include points up or sideways, only interface headers cross parts, no cycle.
"""Usage: scripts/layers.py [--root DIR] [--quiet] [--self-test]

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

An include is #include "..." (from the including file's folder, else from src/) or
#include <...> when it names a file under src/ (the build puts src/ on the include path).

--self-test first runs the check on small trees made in a temporary folder, one clean and
one for each rule with one bad include, and fails unless the clean one passes and each
other one fails with its rule and the include named.

Adding a folder or a part means adding it to PARTS, LAYERS and INTERFACES here.
"""

import argparse
import fnmatch
import io
import os
import re
import sys
import tempfile

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

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*(?:"([^"]+)"|<([^>]+)>)')


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


def resolve(including, name, files, quoted=True):
    """The file an #include of name in `including` reads: for "name" its own folder first,
    then src/; for <name> src/ only."""
    if quoted:
        local = os.path.normpath(os.path.join(os.path.dirname(including), name))
        local = local.replace(os.sep, "/")
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
                quoted = m.group(1) is not None
                name = m.group(1) if quoted else m.group(2)
                target = resolve(path, name, fileset, quoted)
                if target is not None:
                    edges[path].add(target)
                elif quoted:
                    problems.append(("unplaced", f'{path}:{lineno}: #include "{name}" '
                                     "names no file in src/"))
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


def check(src, quiet, out):
    """Draws (unless quiet) and checks the tree under src; the exit code: 0, 1 or 2."""
    files = source_files(src)
    if not files:
        print(f"layers: no sources under {src}", file=out)
        return 2
    layers = layer_of()
    parts = {path: part_of(path) for path in files}
    problems = [("unplaced", f"{p} belongs to no part (add it to PARTS)")
                for p in files if parts[p] is None]
    problems += [("unplaced", f"part {p} has no layer (add it to LAYERS)")
                 for p in sorted(set(parts.values()) - {None}) if p not in layers]
    if problems:
        for kind, text in problems:
            print(f"{kind}: {text}", file=out)
        return 1
    edges, problems = read_includes(src, files)
    problems += check_edges(edges, parts, layers)
    problems += check_cycles(edges, parts)

    if not quiet:
        draw(edges, parts, layers, out)
        print(file=out)
    n_edges = sum(len(t) for t in edges.values())
    if problems:
        print(f"{len(problems)} rule breaks in {len(files)} files, {n_edges} includes:", file=out)
        for kind, text in problems:
            print(f"  {kind:<9} {text}", file=out)
        return 1
    print(f"ok: {len(files)} files, {n_edges} includes; none points up, sideways or past the "
          "task service, only interfaces cross parts, no two files include each other, no cycle",
          file=out)
    return 0


# --self-test: a small tree shaped like src/ that passes, as {file: [includes]}.
CLEAN_TREE = {
    "common/log.h": [],
    "task/task_model.h": ['"common/log.h"'],
    "task/task_json.c": ['"task/task_model.h"'],
    "task/task.h": ['"task/task_model.h"'],
    "task/task_internal.h": ['"task/task.h"', '"store/store.h"', '"engine/engine.h"',
                             '"sched/sched.h"', '"notify/notify.h"'],
    "task/task_service.c": ['"task/task_internal.h"', '"common/log.h"'],
    "store/store.h": ['"task/task_model.h"'],
    "store/store_internal.h": ['"store/store.h"'],
    "store/store_tasks.c": ['"store_internal.h"'],
    "sched/sched.h": ['"common/log.h"'],
    "engine/engine.h": ['"task/task_model.h"'],
    "engine/engine_internal.h": ['"engine/engine.h"', "<stdio.h>", "<libavformat/avformat.h>"],
    "engine/engine.c": ['"engine/engine_internal.h"', "<common/log.h>"],
    "notify/notify.h": ['"store/store.h"', '"task/task_model.h"'],
    "api/api.h": ['"task/task.h"'],
    "api/http_server.c": ['"api/api.h"', '"notify/notify.h"'],
    "ferryd.c": ['"api/api.h"', '"task/task.h"', '"store/store.h"'],
    "ctl/ferryctl.c": ['"common/log.h"'],
}

# (what it shows, {file: extra includes}, the rule it must break, a text the report names).
BROKEN_TREES = [
    ("an include up a layer", {"engine/engine.c": ['"task/task.h"']}, "up",
     "engine/engine.c (engine, layer 2) includes task/task.h"),
    ("an include up a layer by a relative path", {"engine/engine.c": ['"../task/task.h"']},
     "up", "engine/engine.c (engine, layer 2) includes task/task.h"),
    ("an include up a layer in <...>", {"store/store_tasks.c": ["<notify/notify.h>"]}, "up",
     "store/store_tasks.c (store, layer 2) includes notify/notify.h"),
    ("an include sideways", {"engine/engine.c": ['"store/store.h"']}, "sideways",
     "engine/engine.c (engine) includes store/store.h"),
    ("a private header of another part", {"task/task_service.c": ['"engine/engine_internal.h"']},
     "interface", "task/task_service.c (task service) includes engine/engine_internal.h"),
    ("the API past the task service", {"api/http_server.c": ['"store/store.h"']}, "bypass",
     "api/http_server.c (api) includes store/store.h"),
    ("two files that include each other", {"engine/engine.h": ['"engine_internal.h"']},
     "mutual", "engine/engine.h and engine/engine_internal.h include each other"),
    ("a loop of three files", {"engine/a.h": ['"engine/b.h"'], "engine/b.h": ['"engine/c.h"'],
                               "engine/c.h": ['"engine/a.h"']},
     "cycle", "engine/a.h, engine/b.h, engine/c.h"),
    ("a loop of parts", {"common/log.h": ['"task/task_model.h"']}, "cycle",
     "parts include each other in a loop: common, task model"),
    ("an include of no file", {"engine/engine.c": ['"engine/gone.h"']}, "unplaced",
     '#include "engine/gone.h" names no file in src/'),
    ("a file of no part", {"extra/thing.c": ['"common/log.h"']}, "unplaced",
     "extra/thing.c belongs to no part"),
]


def write_tree(src, extra):
    tree = {path: list(incs) for path, incs in CLEAN_TREE.items()}
    for path, incs in extra.items():
        tree.setdefault(path, []).extend(incs)
    for path, incs in tree.items():
        full = os.path.join(src, *path.split("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write("/* self-test */\n")
            f.writelines(f"#include {inc}\n" for inc in incs)


def self_test(out):
    """0 when the clean tree passes and every broken one fails as it should, else 1."""
    failures = []
    cases = [("a clean tree", {}, None, "ok: ")] + BROKEN_TREES
    for what, extra, kind, names in cases:
        with tempfile.TemporaryDirectory(prefix="layers-self-test.") as root:
            src = os.path.join(root, "src")
            write_tree(src, extra)
            buf = io.StringIO()
            rc = check(src, True, buf)
            report = buf.getvalue()
        want_rc = 0 if kind is None else 1
        flagged = kind is None or any(
            line.split()[0].rstrip(":") == kind and names in line
            for line in report.splitlines() if line.strip())
        if rc != want_rc or names not in report or not flagged:
            failures.append(f"{what}: exit {rc} (want {want_rc}), report:\n{report}")
        else:
            print(f"self-test ok: {what}" + (f" -> {kind}" if kind else " passes"), file=out)
    for text in failures:
        print(f"self-test FAILED: {text}", file=out)
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description="Draw and check the include layers of src/.")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--root", default=os.path.dirname(here), help="the repository (default: ..)")
    ap.add_argument("--quiet", action="store_true", help="print only the rule breaks")
    ap.add_argument("--self-test", action="store_true",
                    help="first prove on temporary trees that every rule can fail")
    args = ap.parse_args()

    if args.self_test and self_test(sys.stdout) != 0:
        return 1
    return check(os.path.join(args.root, "src"), args.quiet, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
