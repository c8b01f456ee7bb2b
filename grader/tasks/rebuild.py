"""Random cases written back as code: a failing hidden case is shown as lines the learner can
paste into a cell and run, to rebuild the case and debug it."""
from __future__ import annotations

from grader.replay import VALUE_SPECS

VALUE_CODE = {
    "param": "nn.Parameter(torch.ones(2))",
    "frozen": "nn.Parameter(torch.ones(2), requires_grad=False)",
    "tensor": "torch.zeros(3)",
    "buffer": "nn.Buffer(torch.zeros(1))",
    "buffer-np": "nn.Buffer(torch.zeros(1), persistent=False)",
    "module": "nn.Linear(2, 2)",
    "none": "None",
    "int": "7",
    "list": "[nn.Linear(1, 1)]",
}
assert set(VALUE_CODE) == set(VALUE_SPECS)


def script_code(script: list, var: str = "m") -> str:
    """The statements a replay script (grader.replay) runs, one per line, on module `var`."""
    lines = ["# one statement per step; a step torch refuses raises, so run them one at a time"]
    for op, name, *args in script:
        plain = name.isidentifier()  # else only getattr/setattr/delattr can spell it
        if op == "set":
            value = VALUE_CODE[args[0]]
            lines.append(f"{var}.{name} = {value}" if plain else f"setattr({var}, {name!r}, {value})")
        elif op == "del":
            lines.append(f"del {var}.{name}" if plain else f"delattr({var}, {name!r})")
        elif op == "get":
            lines.append(f"{var}.{name}" if plain else f"getattr({var}, {name!r})")
        elif op == "register_buffer":
            lines.append(f"{var}.register_buffer({name!r}, {VALUE_CODE[args[0]]}, {args[1]})")
        else:
            lines.append(f"{var}.{op}({name!r}, {VALUE_CODE[args[0]]})")
    return "\n".join(lines)


def tree_code(spec: list[dict], seed: int = 0, lib: str = "nn") -> str:
    """Constructor code that builds the same tree, with the same values, as
    `grader.trees.build(lib, spec, seed)`; the root ends up in `root`."""
    lines = [f"g = torch.Generator().manual_seed({seed})"]
    for i in reversed(range(len(spec))):
        node = f"node{i}"
        lines.append(f"{node} = {lib}.Module()")
        for entry in spec[i]["params"]:
            name = entry["name"]
            if "tie" in entry:
                lines.append(f"{node}.register_parameter({name!r}, next((p for p in "
                             f"node{entry['tie']}._parameters.values() if p is not None), None))")
            elif entry["shape"] is None:
                lines.append(f"{node}.register_parameter({name!r}, None)")
            else:
                lines.append(f"{node}.register_parameter({name!r}, {lib}.Parameter(torch.randn("
                             f"{entry['shape']}, generator=g), requires_grad={not entry['frozen']}))")
        for entry in spec[i]["buffers"]:
            value = "None" if entry["shape"] is None else f"torch.randn({entry['shape']}, generator=g)"
            lines.append(f"{node}.register_buffer({entry['name']!r}, {value}, "
                         f"persistent={entry['persistent']})")
        for child in spec[i]["children"]:
            target = "None" if child["node"] is None else f"node{child['node']}"
            lines.append(f"{node}.add_module({child['name']!r}, {target})")
    lines.append("root = node0")
    return "\n".join(lines)
