"""Random module trees, built identically in torch.nn and in purenn, with every object labelled.

A tree is described by a plain-data *spec* (a list of nodes; node 0 is the root, a node's
children are nodes with larger indices, so a node referenced twice is a shared submodule) and
built by `build(lib, spec)`. Used by the hidden checks of the exercises and by the property
tests: the same spec gives the same tree, with the same values, in both libraries, and
`labels` turns any module, parameter or buffer back into a name like "node2.p0" so results of
the two libraries can be compared as plain data.
"""
from __future__ import annotations

import random
from collections import OrderedDict
from types import ModuleType

import torch


def random_spec(rng: random.Random, max_nodes: int = 7) -> list[dict]:
    """A random tree: shared submodules, tied parameters, None entries, frozen parameters,
    persistent and non-persistent buffers, and nesting up to `max_nodes` deep."""
    n = rng.randint(1, max_nodes)
    nodes = []
    for i in range(n):
        params = []
        for j in range(rng.randint(0, 3)):
            kind = rng.choice(["new", "new", "new", "none", "tie"])
            if kind == "tie" and i + 1 < n:
                params.append({"name": f"p{j}", "tie": rng.randrange(i + 1, n)})
            elif kind == "none":
                params.append({"name": f"p{j}", "shape": None})
            else:
                shape = [rng.randint(1, 4) for _ in range(rng.randint(0, 2))]
                params.append({"name": f"p{j}", "shape": shape, "frozen": rng.random() < 0.3})
        buffers = [{"name": f"b{j}", "shape": None if rng.random() < 0.2 else [rng.randint(1, 3)],
                    "persistent": rng.random() < 0.7} for j in range(rng.randint(0, 2))]
        later = list(range(i + 1, n))
        children = []
        for j, child in enumerate(sorted(rng.sample(later, min(len(later), rng.randint(0, 3))))):
            children.append({"name": rng.choice([f"c{j}", str(j)]), "node": child})
        if rng.random() < 0.1:
            children.append({"name": "empty", "node": None})
        nodes.append({"params": params, "buffers": buffers, "children": children})
    # every node but the root hangs under some earlier node, so the tree is connected
    for i in range(1, n):
        if not any(c["node"] == i for node in nodes[:i] for c in node["children"]):
            parent = rng.randrange(0, i)
            nodes[parent]["children"].append({"name": f"x{i}", "node": i})
    return nodes


def build(lib: ModuleType, spec: list[dict], seed: int = 0):
    """Build `spec` with library `lib`; return (root, labels: id(object) -> label)."""
    generator = torch.Generator().manual_seed(seed)
    modules: dict[int, object] = {}
    labels: dict[int, str] = {}
    for i in reversed(range(len(spec))):
        module = lib.Module()
        for entry in spec[i]["params"]:
            name = entry["name"]
            if "tie" in entry:
                target = modules[entry["tie"]]
                shared = next((p for p in target._parameters.values() if p is not None), None)
                module.register_parameter(name, shared)
            elif entry["shape"] is None:
                module.register_parameter(name, None)
            else:
                data = torch.randn(entry["shape"], generator=generator)
                param = lib.Parameter(data, requires_grad=not entry["frozen"])
                labels[id(param)] = f"node{i}.{name}"
                module.register_parameter(name, param)
        for entry in spec[i]["buffers"]:
            value = None if entry["shape"] is None else torch.randn(entry["shape"], generator=generator)
            if value is not None:
                labels[id(value)] = f"node{i}.{entry['name']}"
            module.register_buffer(entry["name"], value, persistent=entry["persistent"])
        for child in spec[i]["children"]:
            module.add_module(child["name"], None if child["node"] is None else modules[child["node"]])
        labels[id(module)] = f"node{i}"
        modules[i] = module
    return modules[0], labels


def label_all(labels: dict[int, str], items) -> list:
    """Replace objects by their labels in an iterable of objects or (name, object) pairs."""
    out = []
    for item in items:
        if isinstance(item, tuple):
            name, obj = item
            out.append((name, labels.get(id(obj), type(obj).__name__)))
        else:
            out.append(labels.get(id(item), type(item).__name__))
    return out


def corrupt(rng: random.Random, state_dict: dict) -> OrderedDict:
    """A copy of state_dict with a few random faults: a key dropped, an unknown key added, a
    value of the wrong shape, of another dtype, or not a tensor at all."""
    out = OrderedDict(state_dict)
    for _ in range(rng.randint(0, 3)):
        keys = list(out)
        fault = rng.choice(["drop", "add", "add-nested", "shape", "dtype", "not-a-tensor"])
        if fault == "add":
            out[rng.choice(["extra", "p9", "b9"])] = torch.zeros(1)
        elif fault == "add-nested":
            out[rng.choice(keys + ["zz.p0"]).rsplit(".", 1)[0] + ".q9"] = torch.zeros(1)
        elif not keys:
            continue
        elif fault == "drop":
            del out[rng.choice(keys)]
        elif fault == "shape":
            out[rng.choice(keys)] = torch.zeros(rng.randint(1, 5), 7)
        elif fault == "dtype":
            key = rng.choice(keys)
            if isinstance(out[key], torch.Tensor):
                out[key] = out[key].double()
        else:
            out[rng.choice(keys)] = [0.0]
    return out
