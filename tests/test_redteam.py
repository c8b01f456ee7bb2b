"""Red team: submissions written by a student who has read the grader, and what they must get.

Each attack is a submission to one exercise (1, 2, 3 or 5). The expensive part is one module-scoped
run that grades all of them (two at a time, one reference per exercise); the tests then read the
grades and the machine's state: the points of every affected task, no file created outside the
run's directory, the submission's bytes unchanged, no process left behind, no signal delivered
outside the sandbox, the grader's temporary directories all removed, bounded time.

The sandbox's own guarantees (what the kernel can see, write and signal) are also tested
directly with bubblewrap, without a kernel, where bubblewrap works.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from grader import forbid, grade, runner, verdict
from grader.runner import Limits
from conftest import settle, wait_until
from grader_cases import _with_answers, answer_cells, task_of, tasks, write
from tools import notebooks, release

ROOT = notebooks.ROOT
EX1 = ROOT / "solutions" / "01_parameter.ipynb"
EX2 = ROOT / "solutions" / "02_registration.ipynb"
EX3 = ROOT / "solutions" / "03_traversal.ipynb"
EX5 = ROOT / "solutions" / "05_checkpointing.ipynb"
LIMITS = Limits(timeout=240, cell_timeout=120, cell_cpu=20, memory=2 << 30)
TOKEN = f"redteam{os.getpid()}x{int(time.time())}"
BWRAP = runner.isolation() == "bwrap"

# Starts a shell command without `subprocess` (whose audit event the kernel's guard refuses):
# the in-process layer never sees it, so what stops it must be the operating system.
SPAWN = '''
def _sh(command):
    import _posixsubprocess, os as _os
    r, w = _os.pipe()
    return _posixsubprocess.fork_exec([b"/bin/sh", b"-c", command.encode()], [b"/bin/sh"], True,
                                      (), None, None, -1, -1, -1, -1, -1, -1, r, w, True, True,
                                      -1, None, None, None, -1, None, False)
'''


def _exercise(path: Path = EX1) -> nbformat.NotebookNode:
    return release.exercise_of(notebooks.read(path))


def _answered(path: Path, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The solution at `path` with the answer cells of the tasks in `answers` replaced."""
    nb = notebooks.read(path)
    for cell in answer_cells(nb):
        if task_of(cell) in answers:
            cell.source = answers[task_of(cell)]
    return nb


def _with_helper(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """`nb` with an untagged code cell before its first answer cell (a learner's helper)."""
    first = next(i for i, c in enumerate(nb.cells) if notebooks.tagged(c, "answer"))
    nb.cells.insert(first, nbformat.v4.new_code_cell(source))
    return nb


def _attacks(folder: Path, sentinel: int) -> dict[str, dict]:
    """file name -> {"nb": notebook, "tasks": expected points}; written into `folder`."""
    full1, full3 = tasks(EX1), tasks(EX3)
    zero1 = {t: 0 for t in full1}
    outside = [ROOT / "grader" / f"{TOKEN}.py", Path("/tmp") / TOKEN, ROOT / f"{TOKEN}.txt"]
    cases: dict[str, tuple] = {}
    stream = 'os.environ["GRADER_REPORT"]'

    transformer = ("def _rewrite(lines):\n"
                   "    return ['pass\\n'] if any('compare(' in l for l in lines) else lines\n"
                   "get_ipython().input_transformers_cleanup.append(_rewrite)")
    cases["input_transformer"] = (_with_helper(_exercise(), transformer), zero1)

    steal = ("import json, os, sys\nimport purenn\n"
             "book = os.path.dirname(os.path.dirname(purenn.__file__))\n"
             "key = json.load(open(os.path.join(book, 'solutions', '01_parameter.ipynb')))\n"
             "code = [''.join(c['source']) for c in key['cells'] if 'answer' in c['metadata'].get('tags', [])]\n"
             "open('/tmp/stolen_answers.py', 'w').write('import copy, torch\\nimport torch.nn as nn\\n' + '\\n'.join(code))\n"
             "sys.path.insert(0, '/tmp')\nfrom stolen_answers import *")
    cases["reads_solutions_via_file"] = (_with_helper(_exercise(), steal), zero1)

    rebinds = {"1.2": "NO_COPY = []\nnn.Parameter.__deepcopy__ = nn.Parameter.__deepcopy__\n\n"
                      "def clone_parameter(param):\n    return copy.deepcopy(param)"}
    cases["rebinds_forbid_lists"] = (_with_answers("solution", rebinds), {**full1, "1.2": 0})

    delegations = {
        "1.2": ("from concurrent.futures import ThreadPoolExecutor\n\n"
                "def clone_parameter(param):\n"
                "    with ThreadPoolExecutor(1) as pool:\n"
                "        return pool.submit(copy.deepcopy, param).result()"),
        "1.3": ("import functools\n\n"
                "class _Init:\n    def __call__(self, tensor, bound):\n"
                "        return _saved(tensor, -bound, bound)\n\n"
                "_saved = nn.init.uniform_\ninit_uniform_ = _Init()"),
    }
    cases["thread_and_proxy_delegation"] = (_with_answers("solution", delegations),
                                            {**full1, "1.2": 0, "1.3": 0})

    # a new Python (multiprocessing's spawn, no name the scan knows) has an ungated torch
    spawned = {"1.2": ("import runpy\nimport torch.multiprocessing as _mp\n\n"
                       "_JOB = ('import copy, torch\\n'\n"
                       "        'p = torch.load(\"/tmp/in.pt\", weights_only=False)\\n'\n"
                       "        'torch.save(copy.deepcopy(p), \"/tmp/out.pt\")\\n')\n\n"
                       "def clone_parameter(param):\n"
                       "    with open('/tmp/job.py', 'w') as f:\n        f.write(_JOB)\n"
                       "    torch.save(param, '/tmp/in.pt')\n"
                       "    child = _mp.get_context('spawn').Process(target=runpy.run_path, args=('/tmp/job.py',))\n"
                       "    child.start()\n    child.join()\n"
                       "    return torch.load('/tmp/out.pt', weights_only=False)")}
    cases["process_delegation"] = (_with_answers("solution", spawned), {**full1, "1.2": 0})

    generator = ("def named_modules(module, memo=None, prefix='', remove_duplicate=True):\n"
                 "    return nn.Module.named_modules(module, memo, prefix, remove_duplicate)")
    cases["generator_delegation"] = (_answered(EX3, {"3.1": generator}), {**full3, "3.1": 0})

    lazy = {"3.1": ("import itertools\n\n"
                    "def named_modules(module, memo=None, prefix='', remove_duplicate=True):\n"
                    "    return itertools.chain.from_iterable(map(\n"
                    "        nn.Module.named_modules, [module], [memo], [prefix], [remove_duplicate]))"),
            "3.2": ("import itertools\n\n"
                    "def named_parameters(module, prefix='', recurse=True, remove_duplicate=True):\n"
                    "    walk = map(nn.Module.named_parameters, [module], [prefix], [recurse], [remove_duplicate])\n"
                    "    return filter(None, itertools.chain.from_iterable(walk))")}
    # lazy iterators made from torch's functions, returned unstarted
    cases["lazy_iterator_delegation"] = (_answered(EX3, lazy), {**full3, "3.1": 0, "3.2": 0})

    reference = {"5.1": "def save_checkpoint(path, model, optimizer, epoch, trainable_only=False):\n"
                        "    return torch_side.spec_save(path, model, optimizer, epoch, trainable_only)",
                 "5.2": "_load = torch_side.torch_checked_load\n\n"
                        "def load_checkpoint(path, model, optimizer):\n"
                        "    return _load(path, model, optimizer)"}
    cases["delegates_to_the_checks_reference"] = (_answered(EX5, reference),
                                                  {**tasks(EX5), "5.1": 0, "5.2": 0})

    forged = (f"import json, os\nstream = {stream}\n"
              "lines = [json.dumps({'k': 'ran', 'cell': n, 'outcome': 'passed',"
              " 'message': '', 'timeout': False}) for n in range(40)]\n"
              "lines += [json.dumps({'k': 'case', 'check': c, 'call': 0, 'case': i, 'label': 'x',"
              " 'value': ['value', 'parameter']}) for c in range(6) for i in range(60)]\n"
              f"lines += [json.dumps({{'kernel_pid': {sentinel}}}),"
              f" json.dumps({{'k': 'hello', 'pid': {sentinel}, 'role': 'learner'}}),"
              f" json.dumps({{'k': 'hello', 'pid': {os.getpid()}, 'role': 'learner'}}),"
              " '{not json', '[' * 100000, 'x' * (2 << 20), json.dumps({'k': 'case', 'value': {'$': 'tuple', 'v': 5}})]\n"
              "with open(stream, 'a') as out:\n"
              "    out.write('\\n'.join(lines) + '\\n')\n"
              "    for _ in range(40):\n        out.write(('y' * 1023 + '\\n') * 1024)\n")
    cases["forged_and_oversized_stream"] = (_with_helper(_exercise(), forged), zero1)

    writes = SPAWN + "".join(f"\ntry:\n    open({str(p)!r}, 'w').write('pwned')\nexcept OSError:\n    pass"
                             for p in outside[:2])
    writes += f"\n_sh('echo pwned > {outside[2]}; kill -9 {sentinel} {os.getpid()}; kill -9 -1')"
    cases["writes_outside_and_signals"] = (_with_helper(_exercise(), writes), zero1)

    detach = SPAWN + (f"\n_sh('sleep 300; : {TOKEN}')"
                      "\nimport time\ntime.sleep(1)")
    cases["detached_process"] = (_with_helper(_exercise(), detach), zero1)

    fifo = SPAWN + "\nimport os, time\n_sh('rm -f records.jsonl; mkfifo records.jsonl')\ntime.sleep(1)"
    cases["fifo_stream"] = (_with_helper(_exercise(), fifo), zero1)
    link = SPAWN + "\nimport time\n_sh('rm -f records.jsonl; ln -s /dev/zero records.jsonl')\ntime.sleep(1)"
    cases["stream_links_to_dev_zero"] = (_with_helper(_exercise(), link), zero1)

    # honest learners: plotting, numpy, %%time, prints and helpers keep full marks
    honest = {
        "1.1": ("%%time\nimport numpy as np\n\n"
                "def registration_kind(value):\n"
                "    print('deciding about', type(value).__name__)\n"
                "    return _kind(value)"),
        "1.2": ("def clone_parameter(param):\n    print('cloning', tuple(param.shape))\n"
                "    data = param.data.clone(memory_format=torch.preserve_format)\n"
                "    return type(param)(data, param.requires_grad)"),
    }
    helper = ("import matplotlib\nimport matplotlib.pyplot as plt\nimport numpy as np\n"
              "fig, ax = plt.subplots()\nax.plot(np.arange(5), np.arange(5) ** 2)\nplt.close(fig)\n\n"
              "def _kind(value):\n    for cls, kind in [(nn.Parameter, 'parameter'), "
              "(nn.Buffer, 'buffer'), (nn.Module, 'module')]:\n"
              "        if isinstance(value, cls):\n            return kind\n    return 'attribute'")
    cases["honest_plots_prints_time_helpers"] = (_with_answers("solution", honest, {"1.1": helper}),
                                                 full1)

    # code compiled under a torch file name, hidden in a %%time cell or behind an attribute
    torch_named = ('import torch.nn.modules.module as _m\n_ns = {}\n'
                   'RUN(COMPILE("""\nimport copy, torch\nimport torch.nn as nn\n'
                   'def _deep(x):\n    return x.__deepcopy__({})\n'
                   'def _uni(t, b):\n    return nn.init.uniform_(t, -b, b)\n'
                   'def _kind(v):\n    m = nn.Module()\n    m.x = v\n'
                   '    if "x" in m._parameters: return "parameter"\n'
                   '    if "x" in m._buffers: return "buffer"\n'
                   '    if "x" in m._modules: return "module"\n    return "attribute"\n'
                   '""", _m.__file__, "ex" + "ec"), _ns)')
    through_ns = {"1.1": "def registration_kind(value):\n    return _ns['_kind'](value)",
                  "1.2": "def clone_parameter(param):\n    return _ns['_deep'](param)",
                  "1.3": "def init_uniform_(tensor, bound):\n    return _ns['_uni'](tensor, bound)"}
    magic = "%%time\n" + torch_named.replace("RUN", "exec").replace("COMPILE", "compile")
    cases["magic_cell_compiles_under_a_torch_name"] = (
        _with_answers("solution", through_ns, {"1.1": magic}), zero1)
    attribute = "_b = print.__self__\n" + torch_named.replace("RUN", "_b.exec").replace(
        "COMPILE", "_b.compile")
    cases["builtins_through_an_attribute"] = (
        _with_answers("solution", through_ns, {"1.1": attribute}), zero1)
    cases["input_transformer_in_a_magic_cell"] = (
        _with_helper(_exercise(), "%%time\n" + transformer), zero1)

    # exercise 2: the learner's class claims to be torch's before delegating
    renamed = {task: (f"def {name}(self, *args):\n"
                      "    type(self).__module__ = 'torch.nn.modules.module'\n"
                      f"    return nn.Module.{method}(self, *args)")
               for task, name, method in (("2.1", "module_setattr", "__setattr__"),
                                          ("2.2", "module_getattr", "__getattr__"),
                                          ("2.3", "module_delattr", "__delattr__"),
                                          ("2.4", "register_buffer", "register_buffer"))}
    cases["module_renamed_to_torch"] = (_answered(EX2, renamed), {t: 0 for t in tasks(EX2)})

    # exercise 3: a torch utility that calls the rebuilt functions on the learner's behalf
    accessor = "from torch.nn.utils._named_member_accessor import NamedMemberAccessor as _Acc\n"
    utility = {
        "3.1": accessor + ("def named_modules(module, memo=None, prefix='', remove_duplicate=True):\n"
                           "    for n, m in _Acc(module).named_modules(remove_duplicate=remove_duplicate):\n"
                           "        yield (prefix + '.' + n if prefix and n else prefix or n), m"),
        "3.2": accessor + ("def named_parameters(module, prefix='', recurse=True, remove_duplicate=True):\n"
                           "    for n, p in _Acc(module).named_parameters(remove_duplicate=remove_duplicate):\n"
                           "        yield (prefix + '.' + n if prefix else n), p"),
        "3.3": accessor + "def get_submodule(module, target):\n    return _Acc(module).get_submodule(target)",
        "3.4": accessor + ("def count_parameters(module, trainable_only=False):\n"
                           "    return sum(p.numel() for _, p in _Acc(module).named_parameters()\n"
                           "               if p.requires_grad or not trainable_only)"),
    }
    # (3.4's checks bind torch's named_parameters in place of the learner's, so using it is fair)
    cases["torch_utility_delegation"] = (_answered(EX3, utility),
                                         {**{t: 0 for t in tasks(EX3)}, "3.4": tasks(EX3)["3.4"]})

    # honest: showing a signature with IPython.display and inspect; a torch decorator
    shows = "from IPython.display import display\nimport inspect\ndisplay(inspect.signature(nn.Module.named_modules))"
    cases["honest_display_and_inspect"] = (_with_answers("solution", {}, {"1.1": shows}), full1)
    no_grad = {"1.3": "@torch.no_grad()\ndef init_uniform_(tensor, bound):\n"
                      "    tensor.uniform_(-bound, bound)\n    return tensor"}
    cases["honest_no_grad_decorator"] = (_with_answers("solution", no_grad), full1)

    # the stream's descriptor found through /proc, torch's results written over the learner's
    forge = ("import json, os\n_fd = None\n"
             "for _n in os.listdir('/proc/self/fd'):\n    try:\n"
             "        if os.readlink(f'/proc/self/fd/{_n}').endswith('records.jsonl'):\n"
             "            _fd = int(_n)\n    except OSError:\n        pass\n"
             "_mine = [json.loads(l) for l in open('records.jsonl') if '\"k\": \"case\"' in l]\n"
             "for _rec, _v in zip(_mine, _seen):\n"
             "    _rec['value'] = {'$': 'tuple', 'v': ['value', torch_kind(_v)]}\n"
             "    os.write(_fd, (json.dumps(_rec) + '\\n').encode())")
    seen = {"1.1": "_seen = []\ndef registration_kind(value):\n    _seen.append(value)\n    return 'attribute'"}
    cases["forges_records_through_the_descriptor"] = (
        _with_answers("exercise", seen, {"1.2": forge}), zero1)

    # torch's results for the hidden cases computed ahead, at a cell's top level, from the seed
    # the kernel holds and the check's own generator; the answer only looks them up
    ahead = ("import os, random\n_seed = int(os.environ['GRADER_SEED'])\n_TABLE = {}\n\n"
             "def _key(p):\n"
             "    return (str(p.dtype), tuple(p.shape), p.stride(), p.requires_grad,\n"
             "            p.grad is not None, tuple(p.detach().float().flatten().tolist()))\n\n"
             "for _check in range(8):  # the hidden check's place among the checks, each tried\n"
             "    torch.manual_seed((_seed * 1_000_003 + _check * 10_007 - 101) % (1 << 62))\n"
             "    _rng = random.Random(_seed + 12)\n"
             "    for _ in range(40):\n"
             "        _p = random_param(_rng)[1]\n"
             "        _TABLE[_key(_p)] = copy.deepcopy(_p)")
    lookup = {"1.2": "def clone_parameter(param):\n    return _TABLE[_key(param)]"}
    cases["computes_torch_results_ahead"] = (_with_answers("solution", lookup, {"1.2": ahead}),
                                             {**full1, "1.2": 0})
    # the same, done by task 1.1's answer the first time 1.1's (visible) check calls it
    during = {"1.1": ("_done = []\n\ndef _ahead():\n" + textwrap.indent(ahead, "    ")
                      + "\n    return _TABLE, _key\n\n"
                      "def registration_kind(value):\n"
                      "    global _TABLE, _key\n"
                      "    if not _done:\n        _done.append(1)\n        try:\n"
                      "            _TABLE, _key = _ahead()\n        except RuntimeError:\n"
                      "            pass\n"
                      "    for cls, kind in [(nn.Parameter, 'parameter'), (nn.Buffer, 'buffer'),\n"
                      "                      (nn.Module, 'module')]:\n"
                      "        if isinstance(value, cls):\n            return kind\n"
                      "    return 'attribute'"),
              **lookup}
    cases["computes_another_tasks_results_during_a_check"] = (
        _with_answers("solution", during),
        {**full1, "1.1": full1["1.1"] - 3, "1.2": 0})

    # torch's own method called on a torch module that shares the learner object's __dict__
    stand_in = {"2.1": ("def module_setattr(self, name, value):\n"
                        "    proxy = nn.Module.__new__(nn.Module)\n"
                        "    object.__setattr__(proxy, '__dict__', self.__dict__)\n"
                        "    nn.Module.__setattr__(proxy, name, value)"),
                "2.2": ("def module_getattr(self, name):\n"
                        "    proxy = nn.Module.__new__(nn.Module)\n"
                        "    proxy.__dict__.update(self.__dict__)\n"
                        "    try:\n        return nn.Module.__getattr__(proxy, name)\n"
                        "    except AttributeError:\n"
                        "        raise AttributeError(f\"'{type(self).__name__}' object has no attribute '{name}'\")")}
    cases["torch_module_stand_in"] = (_answered(EX2, stand_in), {**tasks(EX2), "2.1": 0, "2.2": 0})

    # torch's rule for task 2.2 (__getattr__, which plain Python calls for any answer, so it
    # works during other tasks' checks) learnt as a table by task 2.1's answer during 2.1's
    # check; the answer of 2.2 holds no rule of its own, only that table
    learn = ("\n\n_STORES, _TABLE = ('_parameters', '_buffers', '_modules'), {}\n\n"
             "def _learn():\n"
             "    import itertools\n"
             "    for n in range(4):\n"
             "        for held in itertools.combinations(_STORES, n):\n"
             "            probe, marks = nn.Module(), {}\n"
             "            for store in held:\n"
             "                marks[store] = getattr(probe, store)['x'] = object()\n"
             "            try:\n"
             "                got = nn.Module.__getattr__(probe, 'x')\n"
             "                _TABLE[held] = ('return', next(s for s in held if marks[s] is got))\n"
             "            except AttributeError as error:\n"
             "                _TABLE[held] = ('raise', str(error).replace('Module', '{0}', 1)\n"
             "                                        .replace(\"'x'\", \"'{1}'\"))\n\n"
             "_honest = module_setattr\n\n"
             "def module_setattr(self, name, value):\n"
             "    if not _TABLE:\n        _learn()\n"
             "    return _honest(self, name, value)\n")
    table = {"2.1": answer_cells(notebooks.read(EX2))[0].source + learn,
             "2.2": ("def module_getattr(self, name):\n"
                     "    held = tuple(s for s in _STORES if name in self.__dict__.get(s, {}))\n"
                     "    action, what = _TABLE[held]\n"
                     "    if action == 'return':\n        return self.__dict__[what][name]\n"
                     "    raise AttributeError(what.format(type(self).__name__, name))")}
    cases["learns_a_rule_during_another_tasks_check"] = (_answered(EX2, table),
                                                          {**tasks(EX2), "2.2": 0})

    # objects whose behaviour is torch's code, handed to the check to run later: no learner
    # frame is on the stack when the check uses them (functools' callables are C code)
    def handing_over(helper: str) -> dict[str, str]:
        """Answers of 3.1 and 3.2 that give torch's method and its arguments to `_over`, which
        `helper` defines, and return what it returns."""
        return {"3.1": helper + ("def named_modules(module, memo=None, prefix='', remove_duplicate=True):\n"
                                 "    return _over(module, nn.Module.named_modules, memo, prefix, remove_duplicate)"),
                "3.2": helper + ("def named_parameters(module, prefix='', recurse=True, remove_duplicate=True):\n"
                                 "    return _over(module, nn.Module.named_parameters, prefix, recurse, remove_duplicate)")}
    cases["class_of_torch_functions"] = (_answered(EX3, handing_over(
        "import functools\n\n"
        "def _over(module, method, *args):\n"
        "    cls = type(module)\n"
        "    module.__class__ = type(cls.__name__, (cls,),\n"
        "                            {'__iter__': functools.partialmethod(method, *args)})\n"
        "    return module\n\n")), {**full3, "3.1": 0, "3.2": 0})
    cases["stored_lazy_iterator"] = (_answered(EX3, handing_over(
        "import functools, itertools\n\n"
        "class _Walk:\n"
        "    __iter__ = functools.partialmethod(getattr, 'walk')\n\n"
        "def _over(module, method, *args):\n"
        "    holder = _Walk()\n"
        "    holder.walk = itertools.chain.from_iterable(map(method, [module], *([a] for a in args)))\n"
        "    return holder\n\n")), {**full3, "3.1": 0, "3.2": 0})
    # the first step done by hand, then the check's object rerouted to torch's __setattr__
    cases["check_object_rerouted_to_torch"] = (_answered(EX2, {"2.1": (
        "def module_setattr(self, name, value):\n"
        "    if isinstance(value, nn.Parameter) or value is None and name in self._parameters:\n"
        "        self.register_parameter(name, value)\n"
        "    elif isinstance(value, nn.Module):\n"
        "        self.add_module(name, value)\n"
        "    elif isinstance(value, nn.Buffer):\n"
        "        self.register_buffer(name, value, value.persistent)\n"
        "    else:\n"
        "        object.__setattr__(self, name, value)\n"
        "    cls = type(self)\n"
        "    object.__setattr__(self, '__class__',\n"
        "                       type(cls.__name__, (cls,), {'__setattr__': nn.Module.__setattr__}))")}),
        {**tasks(EX2), "2.1": 0})

    # torch's gated code run as a new function with globals whose __import__ hands out a no-op
    # gate (the names the scan reads are spelt in pieces)
    cases["torch_code_with_your_globals"] = (_answered(EX2, {"2.2": (
        "import types\n\n"
        "class _NoGate:\n    @staticmethod\n    def gate(*args):\n        pass\n\n"
        "_g = dict(vars(nn.modules.module))\n"
        "_g['__buil' + 'tins__'] = {'__imp' + 'ort__': lambda *a, **k: _NoGate,\n"
        "                         'AttributeError': AttributeError, 'type': type}\n"
        "_copy = types.FunctionType(getattr(nn.Module.__getattr__, '__co' + 'de__'), _g)\n\n"
        "def module_getattr(self, name):\n    return _copy(self, name)")}),
        {**tasks(EX2), "2.2": 0})

    # exploring at a cell's top level, even with the function being rebuilt, before the answer
    explore = {"1.3": ("probe = nn.Linear(3, 2)\nnn.init.uniform_(probe.weight, -0.1, 0.1)\n"
                       "backup = copy.deepcopy(probe)\nprint(backup)\n\n"
                       "def init_uniform_(tensor, bound):\n    with torch.no_grad():\n"
                       "        tensor.uniform_(-bound, bound)\n    return tensor\n\n"
                       "init_uniform_(torch.empty(3), 0.5)")}
    cases["honest_explores_at_top_level"] = (_with_answers("solution", explore), full1)

    out = {}
    for name, (nb, points) in cases.items():
        path = write(nb, folder / f"{name}.ipynb")
        out[path.name] = {"tasks": points, "path": path}
    return out


def _grade_all(paths: list[Path], limits: Limits) -> dict[str, verdict.Grade]:
    seed = 12345

    def one(path: Path) -> verdict.Grade:
        learner, pristine = grade.prepare(path)
        table = grade.reference(pristine, seed, limits)
        return verdict.judge(learner, table, runner.run_learner(learner, seed, limits),
                             str(path), seed)

    with ThreadPoolExecutor(2) as pool:
        return {p.name: g for p, g in zip(paths, pool.map(one, paths))}


def _tokened_processes() -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if TOKEN.encode() in Path(entry.path, "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    grader_tmp = tmp_path_factory.mktemp("grader-tmp")
    sentinel = subprocess.Popen(["sleep", "3600"])
    expected = _attacks(folder, sentinel.pid)
    before = {n: hashlib.sha256(e["path"].read_bytes()).hexdigest() for n, e in expected.items()}
    saved, tempfile.tempdir = tempfile.tempdir, str(grader_tmp)
    start = time.monotonic()
    try:
        grades = _grade_all([e["path"] for e in expected.values()], LIMITS)
    finally:
        tempfile.tempdir = saved
    seconds = time.monotonic() - start
    time.sleep(1)  # what escaped has a moment to show; what is ending, up to BOUND_S to end
    settle(lambda: not _tokened_processes() and not _leftover(grader_tmp))  # the tests judge
    state = {"sentinel_alive": sentinel.poll() is None, "leftover": _leftover(grader_tmp),
             "tokened": _tokened_processes(), "seconds": seconds,
             "after": {n: hashlib.sha256(e["path"].read_bytes()).hexdigest()
                       for n, e in expected.items()}}
    sentinel.kill()
    sentinel.wait()
    yield {"grades": grades, "expected": expected, "before": before, **state}
    for path in _outside_paths():
        if path.exists():
            path.unlink()


def _leftover(folder: Path) -> list[str]:
    """What is left in the grader's temp dir; in a warm server's spool (grader.runner.Server,
    kept for the next run) only the runs' directories count."""
    found = []
    for name in sorted(os.listdir(folder)):
        if name.startswith("grader-spool-"):
            found += [f"{name}/{n}" for n in sorted(os.listdir(folder / name)) if n != "server.log"]
        else:
            found.append(name)
    return found


def _outside_paths() -> list[Path]:
    return [ROOT / "grader" / f"{TOKEN}.py", Path("/tmp") / TOKEN, ROOT / f"{TOKEN}.txt"]


def _points(g: verdict.Grade) -> dict[str, float]:
    return {t.task: t.points for t in g.tasks}


def _explain(g: verdict.Grade) -> str:
    return f"{g.status} {g.detail} [{g.isolation}]: " + "; ".join(
        f"{t.task} {t.points}/{t.max_points} {t.message}" for t in g.tasks)


ATTACKS = ["input_transformer", "reads_solutions_via_file", "rebinds_forbid_lists",
           "thread_and_proxy_delegation", "generator_delegation", "forged_and_oversized_stream",
           "writes_outside_and_signals", "detached_process", "fifo_stream",
           "stream_links_to_dev_zero", "honest_plots_prints_time_helpers",
           "delegates_to_the_checks_reference", "magic_cell_compiles_under_a_torch_name",
           "builtins_through_an_attribute", "input_transformer_in_a_magic_cell",
           "module_renamed_to_torch", "torch_utility_delegation", "honest_display_and_inspect",
           "honest_no_grad_decorator", "forges_records_through_the_descriptor",
           "lazy_iterator_delegation", "process_delegation", "computes_torch_results_ahead",
           "honest_explores_at_top_level", "torch_module_stand_in",
           "computes_another_tasks_results_during_a_check",
           "learns_a_rule_during_another_tasks_check", "class_of_torch_functions",
           "stored_lazy_iterator", "check_object_rerouted_to_torch", "torch_code_with_your_globals"]


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS)
def test_attack_gets_exactly_the_expected_points(attacked, attack):
    g = attacked["grades"][f"{attack}.ipynb"]
    assert _points(g) == attacked["expected"][f"{attack}.ipynb"]["tasks"], _explain(g)
    assert g.isolation == runner.isolation()
    assert g.seconds < 2 * LIMITS.timeout + 60, _explain(g)


@pytest.mark.slow
def test_the_rule_learnt_during_another_check_scores_in_a_kernel_shared_by_the_tasks(
        tmp_path, monkeypatch):
    """The attack above is real: with every check of exercise 2 in one kernel it earns 2.2."""
    path = _attacks(tmp_path, os.getpid())["learns_a_rule_during_another_tasks_check.ipynb"]["path"]
    monkeypatch.setattr(runner, "task_groups", lambda plan: [list(plan.tasks)])
    assert _points(_grade_all([path], LIMITS)[path.name]) == tasks(EX2)


@pytest.mark.slow
def test_attacks_leave_the_machine_as_it_was(attacked):
    assert attacked["before"] == attacked["after"]  # no submission rewritten
    assert attacked["sentinel_alive"]  # no signal reached a process outside the sandbox
    assert attacked["leftover"] == []  # every run's directory removed
    assert attacked["tokened"] == []  # nothing started by a submission outlives its grade
    if BWRAP:  # an unprivileged uid can still write where everyone may (e.g. /tmp)
        assert [p for p in _outside_paths() if p.exists()] == []
    else:
        assert not (ROOT / "grader" / f"{TOKEN}.py").exists()


@pytest.mark.slow
def test_refusals_are_named_in_the_messages(attacked):
    def message(attack, task):
        g = attacked["grades"][f"{attack}.ipynb"]
        return next(t.message for t in g.tasks if t.task == task)

    assert "copy.deepcopy" in message("thread_and_proxy_delegation", "1.2")
    assert "torch.nn.init.uniform_" in message("thread_and_proxy_delegation", "1.3")
    assert "named_modules" in message("generator_delegation", "3.1")
    assert "copy.deepcopy" in message("rebinds_forbid_lists", "1.2")
    assert "named_modules" in message("lazy_iterator_delegation", "3.1")
    assert "named_parameters" in message("lazy_iterator_delegation", "3.2")
    # a top-level statement refused under grading is named in the grade, and costs nothing
    explored = attacked["grades"]["honest_explores_at_top_level.ipynb"].warnings
    assert len(explored) == 1 and "torch.nn.Module.__setattr__, which task 1.1 rebuilds" in explored[0]
    assert attacked["grades"]["honest_plots_prints_time_helpers.ipynb"].warnings == []


def test_iterators_returned_by_learner_code_advance_as_the_learners():
    def turn(_):
        return forbid._learners_turn

    value = forbid.attributed((map(turn, [0]), [map(turn, [0])], {"k": map(turn, [0])}, 5))
    assert list(value[0]) == [1] and list(value[1][0]) == [1] and list(value[2]["k"]) == [1]
    assert value[3] == 5 and forbid._learners_turn == 0
    plain = [1, (2,)]
    assert forbid.attributed(plain) is plain and plain == [1, (2,)]
    text = io.StringIO("a file keeps its interface")
    assert forbid.attributed(text) is text

    def make(k):
        def answer(x, y=2, *, z=3):
            return map(lambda v: (v + k + y + z, forbid._learners_turn), [x])
        return answer

    answer = make(10)
    forbid.learner_returns(answer)
    forbid.learner_returns(answer)  # once is enough
    assert list(answer(1)) == [(16, 1)] and list(answer(1, 0, z=0)) == [(11, 1)]
    assert answer.__name__ == "answer" and forbid._learners_turn == 0


# -- the sandbox itself, without a kernel ------------------------------------------------------

needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap does not work on this machine")


def _inside(command: str, limits: Limits = Limits()) -> subprocess.CompletedProcess:
    uid = runner.UIDS[-1] if os.geteuid() == 0 else None
    cmd = runner._bwrap_prefix("bwrap", None, uid, limits) + ["/bin/sh", "-c", command]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          preexec_fn=functools.partial(runner._set_limits, limits))


@needs_bwrap
def test_the_sandbox_holds_no_answer_key_and_only_the_packages_of_the_book():
    listing = _inside(f"ls -a {ROOT}; test -e {ROOT / 'solutions'} && echo SOLUTIONS; "
                      f"ls {ROOT.parent} | wc -l; id -u")
    names = set(listing.stdout.split()[:-2])
    assert "SOLUTIONS" not in listing.stdout
    assert names <= {".", "..", "grader", "purenn", "tools", ".venv"}, listing
    if os.geteuid() == 0:
        assert listing.stdout.split()[-1] == str(runner.UIDS[-1])


@needs_bwrap
def test_the_cache_of_torchs_side_is_never_visible_inside(monkeypatch):
    cache = ROOT / "grader" / f".cache-{TOKEN}"  # even inside a package the sandbox sees
    cache.mkdir(mode=0o700)
    try:
        (cache / "table.jsonl").write_text("torch's answers")
        monkeypatch.setenv("GRADER_CACHE", str(cache))
        done = _inside(f"ls -A {cache}; cat {cache}/table.jsonl; echo end")
        assert "end" in done.stdout and "table" not in done.stdout and "answers" not in done.stdout
    finally:
        for path in cache.iterdir():
            path.unlink()
        cache.rmdir()


def test_a_cached_table_is_data_checked_like_a_result_stream(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    case = {"k": "case", "check": 0, "call": 0, "case": 0, "label": "x", "value": ["value", 1]}
    grade._store("k1", {0: {(0, 0): case}})
    assert grade._load("k1") == {0: {(0, 0): case}}
    stored = tmp_path / "cache" / "k1.jsonl"
    for bad in (b"", b"{not json\n", json.dumps({**case, "pid": 1}).encode() + b"\n",
                json.dumps({"k": "exit", "status": 0}).encode() + b"\n"):
        stored.write_bytes(bad)
        assert grade._load("k1") is None
    os.chmod(tmp_path / "cache", 0o777)  # a directory others may write is not trusted
    grade._store("k1", {0: {(0, 0): case}})
    assert grade._load("k1") is None
    os.chmod(tmp_path / "cache", 0o700)
    monkeypatch.setattr(grade, "CACHE_TABLES", 2)
    for key in ("k2", "k3", "k4"):
        time.sleep(0.05)  # distinct modification times
        grade._store(key, {0: {(0, 0): case}})
    assert sorted(p.name for p in (tmp_path / "cache").glob("*.jsonl")) == ["k3.jsonl", "k4.jsonl"]
    monkeypatch.setenv("GRADER_CACHE", "off")
    assert runner.cache_dir() is None and grade._load("k1") is None


# -- the warm server's runs (grader.zygote), without the guard -----------------------------------

needs_server = pytest.mark.skipif(not BWRAP or os.geteuid() != 0,
                                  reason="the warm server runs at level bwrap as root")


def _forked(cells: list[str], limits: Limits = Limits()) -> tuple[runner.Run, int]:
    """Run raw `cells` (no guard, no check) in a run of the warm server; a cell reports what it
    saw by raising it. Returns the run and the run's uid."""
    box = runner.Sandbox("learner", 1, limits)
    assert box.server is not None, "this machine runs bwrap as root, so the server serves"
    box.work = lambda plan: json.dumps({"cells": cells, "cell_timeout": 60}).encode()
    return box.result(None), box.uid


SEE = """
import os
writable = []
for root, dirs, files in os.walk("/"):
    if root.startswith(("/proc", "/sys")):
        dirs[:] = []
    elif os.access(root, os.W_OK):
        writable.append(root)
found = [n for w in writable for n in os.listdir(w) if n.startswith("{token}")]
for w in writable:
    open(os.path.join(w, "{token}-mark"), "w").close()
caps = open("/proc/self/status").read().split("CapEff:")[1].split()[0]
pids = [p for p in os.listdir("/proc") if p.isdigit()]
raise RuntimeError(repr((writable, found, caps, pids, os.getuid())))
"""


@needs_server
def test_runs_of_the_warm_server_share_nothing_writable_and_see_no_other_process():
    seen = []
    for _ in range(2):  # the second run looks for what the first one left everywhere it could
        run, uid = _forked([SEE.format(token=TOKEN)])
        message = run.cells[0].message
        assert message.startswith("RuntimeError: "), message
        seen.append((ast.literal_eval(message[len("RuntimeError: "):]), uid))
    for (writable, found, caps, pids, uid), taken in seen:
        assert writable == ["/tmp", "/tmp/grading"]  # its own /tmp, nothing of the server's
        assert found == []  # no mark of the run before it
        assert int(caps, 16) == 0 and pids == ["1"]  # no capability; its own pid namespace
        assert uid == taken and uid in runner.UIDS
    assert not (Path("/tmp") / f"{TOKEN}-mark").exists()


@needs_server
def test_a_run_that_clears_its_parent_death_signal_is_still_killed():
    clear = ("import ctypes, time\n"
             "ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG: none\n"
             "while True:\n    time.sleep(1)")
    run, _ = _forked([NAMESPACE, clear], Limits(timeout=3))
    assert run.status == "timeout"
    namespace = run.cells[0].message.removeprefix("RuntimeError: ")
    assert namespace.startswith("pid:["), namespace
    # (a process of the run's uid may be another grader's by now: the uid is free again)
    wait_until(lambda: in_namespace(namespace) == [],
               lambda: f"processes {in_namespace(namespace)} left in the run's {namespace}")


NAMESPACE = "import os\nraise RuntimeError(os.readlink('/proc/self/ns/pid'))"


def in_namespace(namespace: str) -> list[int]:
    """The processes of the pid namespace `namespace` ("pid:[...]"), which a run cannot leave."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if os.readlink(os.path.join(entry.path, "ns", "pid")) == namespace:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@needs_bwrap
def test_the_sandbox_cannot_write_signal_or_reach_the_network(tmp_path):
    marker = ROOT / "grader" / f"{TOKEN}-direct"
    sentinel = subprocess.Popen(["sleep", "3600"])
    try:
        done = _inside(f"touch {marker}; echo x > /tmp/{TOKEN}; kill -9 {sentinel.pid} 1; "
                       "kill -9 -1; cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                       f"{sys.executable} -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\"; "
                       "echo net=$?")
        assert not marker.exists() and not (Path("/tmp") / TOKEN).exists()
        assert sentinel.poll() is None
        assert "net=1" in done.stdout, done
        assert "sleep" not in done.stdout  # its pid 1 is bubblewrap, not a host process
    finally:
        sentinel.kill()
        sentinel.wait()
        if marker.exists():
            marker.unlink()


@needs_bwrap
def test_nothing_started_inside_outlives_the_sandbox():
    start = time.monotonic()
    _inside(f"setsid sh -c 'sleep 300; : {TOKEN}' > /dev/null 2>&1 & echo started")
    assert time.monotonic() - start < 30
    time.sleep(0.5)
    assert _tokened_processes() == []


@needs_bwrap
def test_limits_hold_inside_the_sandbox():
    done = _inside(f"ulimit -v; ulimit -f; ulimit -n; head -c 2000000 /dev/zero > /tmp/big; "
                   "echo wrote=$?", Limits(fsize=1 << 20, memory=1 << 30, nofile=64))
    lines = done.stdout.split()
    assert lines[:3] == [str((1 << 30) >> 10), str((1 << 20) >> 9), "64"], done
    assert "wrote=0" not in done.stdout


def test_require_sandbox_refuses_without_one(tmp_path):
    env = {**os.environ, "GRADER_ISOLATION": "none"}
    done = subprocess.run([sys.executable, "-m", "grader", str(EX1), "--require-sandbox"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "no sandbox" in done.stderr


def test_isolation_levels_fall_back_in_order(monkeypatch):
    monkeypatch.setenv("GRADER_ISOLATION", "none")
    assert runner.isolation() == "none"
    monkeypatch.setenv("GRADER_ISOLATION", "uid")
    assert runner.isolation() == ("uid" if runner.uid_works() else "none")
    monkeypatch.delenv("GRADER_ISOLATION")
    assert runner.isolation() in runner.LEVELS
    if os.geteuid() == 0 and (runner.uid_works() or runner._bwrap_works()):
        assert runner.isolation() in ("bwrap", "uid")


def test_the_grader_reads_only_regular_files(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to("/dev/zero")
    start = time.monotonic()
    assert runner.read_regular(fifo, 100) == b"" and runner.read_regular(link, 100) == b""
    assert runner.read_regular(tmp_path / "missing", 100) == b""
    assert time.monotonic() - start < 5
    (tmp_path / "big").write_bytes(b"x" * 5000)
    assert runner.read_regular(tmp_path / "big", 100) == b"x" * 100


def test_cleanup_never_raises_and_removes_unreadable_directories(tmp_path):
    tree = tmp_path / "run"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    os.mkfifo(tree / "fifo")
    os.chmod(tree / "a" / "b", 0)
    os.chmod(tree / "a", 0)
    runner._remove(tree)
    runner._remove(tmp_path / "never-existed")
    assert not tree.exists()



# -- the gate of the rebuilt torch functions (in a separate process: it changes torch) ---------

GATE_SCRIPT = r'''
import copy, functools, threading, torch, torch.nn as nn
from concurrent.futures import ThreadPoolExecutor
from torch.nn.utils._named_member_accessor import NamedMemberAccessor
from grader import forbid
gated = forbid.install(["setup_cell.py"], [torch.__file__.rsplit("/", 1)[0] + "/"], ["<string>"])
refused = []
forbid.on_refusal = lambda name, task: refused.append(name)

def outcome(call):  # this script plays the check cell; LEARNER is compiled as a learner cell
    try:
        call()
        return "ok"
    except RuntimeError as err:
        return str(err)

LEARNER = """
saved, m = nn.init.uniform_, nn.Sequential(nn.Linear(2, 2), nn.ReLU())
class Proxy:
    def __call__(self, t):
        return saved(t, -1, 1)
class Mine(nn.Module):
    pass
class Renamed(nn.Module):
    pass
Renamed.__module__ = "torch.nn.modules.module"
routes = {
    "saved reference": lambda: saved(torch.empty(2)),
    "proxy object": lambda: Proxy()(torch.empty(2)),
    "wraps": lambda: functools.wraps(saved)(lambda t: saved(t))(torch.empty(2)),
    "executor thread": lambda: ThreadPoolExecutor(1).submit(saved, torch.empty(2)).result(),
    "unstarted generator": lambda: nn.Module.named_modules(m),
    "method": lambda: list(m.parameters()),
    "torch utility": lambda: list(NamedMemberAccessor(m).named_parameters()),
    "state_dict (not rebuilt in 3.1)": lambda: m.state_dict(),
    "stand-in": lambda: list(nn.Module.named_modules(m)),
    "stand-in calling another": lambda: sum(p.numel() for _, p in nn.Module.named_parameters(m)),
    "torch object": lambda: setattr(m, "x", 1),
    "learner class": lambda: nn.Module.__setattr__(Mine(), "y", 1),
    "renamed learner class": lambda: nn.Module.__setattr__(Renamed(), "y", 1),
    "disarmed": lambda: (copy.deepcopy(m), list(m.named_modules()), saved(torch.empty(1))),
    "hasattr": lambda: hasattr(Mine(), "nothing"),
}
def in_thread():
    box = []
    worker = threading.Thread(target=lambda: box.append(outcome(routes["saved reference"])))
    worker.start(); worker.join()
    return box[0]
"""
ns = dict(globals())
exec(compile(LEARNER, "learner_cell.py", "exec"), ns)
routes, results = ns["routes"], {}
with forbid.armed("1.3"):
    for route in ("saved reference", "proxy object", "wraps", "executor thread"):
        results[route] = outcome(routes[route])
    results["thread"] = ns["in_thread"]()
    results["torch's own use"] = outcome(lambda: nn.Linear(3, 3))
with forbid.armed("3.1"):
    for route in ("unstarted generator", "method", "torch utility", "state_dict (not rebuilt in 3.1)"):
        results[route] = outcome(routes[route])
    results["check's own traversal"] = outcome(lambda: list(ns["m"].named_modules()))
with forbid.armed("3.2", allowed={"torch.nn.Module.named_modules"}):
    results["stand-in"] = outcome(routes["stand-in"])
with forbid.armed("3.4", allowed={"torch.nn.Module.named_parameters"}):
    results["stand-in calling another"] = outcome(routes["stand-in calling another"])
with forbid.armed("2.1"):
    for route in ("torch object", "learner class", "renamed learner class"):
        results[route] = outcome(routes[route])
results["disarmed"] = outcome(routes["disarmed"])
forbid.seal(["1.3", "2.2"])  # from here on, as in a grading kernel: armed between checks too
results["sealed: learner code between checks"] = outcome(routes["saved reference"])
results["sealed: learner thread between checks"] = ns["in_thread"]()
setup = compile("nn.init.uniform_(torch.empty(2), -1, 1)", "setup_cell.py", "exec")
shell = {"setup": setup, "space": dict(globals())}  # IPython runs a cell: neither torch nor a check
exec(compile("def run_cell():\n    exec(setup, space)", "interactiveshell.py", "exec"), shell)
results["sealed: a setup cell's top level"] = outcome(shell["run_cell"])
with forbid.armed("3.1"):
    results["sealed: during another task's check"] = outcome(routes["saved reference"])
    results["sealed: plain Python, during another task's check"] = outcome(routes["hasattr"])
results["sealed: plain Python, between checks"] = outcome(routes["hasattr"])
results["same objects"] = str(gated["torch.nn.init.uniform_"] is ns["saved"])
results["refusals reported"] = str(len(refused))
print(repr(results))
'''


def test_the_gate_refuses_every_route_from_learner_code_and_nothing_else():
    done = subprocess.run([sys.executable, "-c", GATE_SCRIPT], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    results = eval(done.stdout.strip().splitlines()[-1])  # a dict literal printed by the script
    init = "Exercise 1.3 must not call torch.nn.init.uniform_"
    for route in ("saved reference", "proxy object", "wraps", "executor thread", "thread"):
        assert results[route] == init, route
    assert results["unstarted generator"] == "Exercise 3.1 must not call torch.nn.Module.named_modules"
    assert results["method"] == "Exercise 3.1 must not call torch.nn.Module.parameters"
    # a torch utility that calls the rebuilt function for the learner is refused too
    assert results["torch utility"].startswith("Exercise 3.1 must not call torch.nn.Module."), results
    # a learner class, one that claims to be torch's (its __module__ set by hand), and torch's
    # own module: learner code may call the function on none of them (a torch module sharing a
    # learner object's __dict__ would carry the call out for it)
    for route in ("learner class", "renamed learner class", "torch object"):
        assert results[route] == "Exercise 2.1 must not call torch.nn.Module.__setattr__", route
    for route in ("torch's own use", "check's own traversal", "state_dict (not rebuilt in 3.1)",
                  "stand-in", "stand-in calling another", "disarmed"):
        assert results[route] == "ok", (route, results)
    # sealed (a grading kernel): learner code cannot compute torch's results ahead of a check,
    # between checks or during another task's check; a setup cell can, and what plain Python
    # calls (hasattr -> __getattr__) is refused only between checks and during its own task's
    for route in ("sealed: learner code between checks", "sealed: learner thread between checks",
                  "sealed: during another task's check"):
        assert results[route] == init, route
    assert results["sealed: plain Python, between checks"] == \
        "Exercise 2.2 must not call torch.nn.Module.__getattr__"
    for route in ("sealed: a setup cell's top level", "sealed: plain Python, during another task's check"):
        assert results[route] == "ok", route
    assert results["same objects"] == "True" and results["refusals reported"] == "15", results


def test_every_rebuilt_function_belongs_to_a_task_of_the_book():
    from grader import forbid

    book_tasks = {t for path in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb") for t in tasks(path)}
    assert set(forbid.REBUILT) <= book_tasks
    for task in forbid.REBUILT:
        assert forbid.targets(task), task


# -- reading the learner's code (grader.scan) and naming the answer's code (grader.sandbox) ------

@pytest.mark.parametrize("source, flagged", [
    # a cell magic's body is Python like any other cell's
    ("%%time\nimport torch.nn.modules.module as _m\nexec(compile('x = 1', _m.__file__, 'exec'))",
     {"line 3 uses exec", "line 3 uses compile", "line 3 uses the string 'exec'"}),
    ("%%time\ndef _rewrite(lines):\n    return lines\nget_ipython().input_transformers_cleanup.append(_rewrite)",
     {"line 4 uses get_ipython"}),
    ("%%capture out\nimport gc", {"line 2 uses import gc"}),
    ("%time y = eval('1')", {"line 1 uses eval"}),
    ("%timeit -n 1 -r 2 sys._getframe()", {"line 1 uses ._getframe"}),
    ("%%time\ndef f(:\n", {"line 1 uses a magic whose code cannot be read as Python"}),
    # magics and shell escapes that run something other than the cell's Python
    ("!cat /proc/self/fd/3", {"line 1 uses a shell command (!)"}),
    ("%%bash\nls", {"line 1 uses the magic %%bash"}),
    ("%run other.py", {"line 1 uses the magic %run"}),
    # the builtins module through an attribute, sys through os
    ("_b = print.__self__\n_b.exec(_b.compile('1', 'x', 'ex' + 'ec'))", {"line 1 uses .__self__"}),
    ("import os\nos.sys.modules['torch']", {"line 2 uses sys.modules"}),
    ("import inspect\nframe = inspect.currentframe()", {"line 2 uses .currentframe"}),
])
def test_the_scan_reads_magic_cells_and_attributes(source, flagged):
    from grader.scan import scan

    assert {str(f) for f in scan(source)} == flagged


@pytest.mark.parametrize("source", [
    "from IPython.display import display\nimport inspect\ndisplay(inspect.signature(len))",
    "%%time\nimport numpy as np\nx = np.arange(3)",
    "%matplotlib inline\nmodel.eval()\nfast = torch.compile",
    "%timeit -n 1 sum(range(3))",
    "def f(:",  # a syntax error runs nothing: nothing to flag
])
def test_the_scan_leaves_honest_cells_alone(source):
    from grader.scan import scan

    assert scan(source) == []


def test_a_decorated_answer_is_the_learners_code():
    import torch

    from grader.sandbox import _origin

    ns: dict = {"torch": torch}
    exec(compile("@torch.no_grad()\ndef init_uniform_(t, b):\n    return t\n", "answer_cell.py",
                 "exec"), ns)
    assert _origin(ns["init_uniform_"]) == "answer_cell.py"
    # a __wrapped__ set by hand on torch's own function is not followed
    uniform = torch.nn.init.uniform_
    fake = functools.wraps(ns["init_uniform_"])(lambda *a: uniform(*a))
    assert _origin(fake) == __file__
    assert _origin(uniform).startswith(os.path.dirname(torch.__file__))


# -- the run's resources as a whole ------------------------------------------------------------

@needs_bwrap
def test_the_run_directory_is_capped_as_a_whole(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in runner.RUN_FILES:
        (out / name).write_bytes(b"")
    limits = Limits(fsize=4 << 20, tmp_size=8 << 20)
    uid = runner.UIDS[-1] if os.geteuid() == 0 else None
    if uid is not None:
        for path in [out, *out.iterdir()]:
            os.chown(path, uid, uid)
    script = ("for i in 1 2 3 4 5 6; do head -c 4000000 /dev/zero > big$i; echo wrote$i=$?; done; "
              "echo x >> records.jsonl; echo appended=$?; rm records.jsonl; echo removed=$?")
    cmd = runner._bwrap_prefix("bwrap", out, uid, limits) + ["/bin/sh", "-c", script]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          preexec_fn=functools.partial(runner._set_limits, limits))
    assert "wrote1=0" in done.stdout and "wrote6=0" not in done.stdout, done  # 8 MiB in all
    assert "appended=0" in done.stdout and "removed=0" not in done.stdout, done
    assert sorted(os.listdir(out)) == sorted(runner.RUN_FILES)  # nothing reached the host
    assert (out / "records.jsonl").read_bytes() == b"x\n"


def test_memory_is_capped_for_all_processes_of_a_run_together():
    group = runner.memory_cgroup(300 << 20)
    if group is None:
        pytest.skip("this machine lets the grader make no memory cgroup")
    code = ("import os\nkids = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
            "        held = b'x' * (150 << 20)\n        import time; time.sleep(2); os._exit(0)\n"
            "    kids.append(pid)\n"
            "print(sum(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) == -9 for p in kids))")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, preexec_fn=functools.partial(runner._set_limits,
                                                                        Limits(), group))
    finally:
        runner.remove_cgroup(group)
    assert int(done.stdout.split()[-1]) >= 1, done  # 450 MiB in 3 processes: not under a 300 MiB cap
    assert not group.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox uids are used only when grading as root")
def test_two_grader_processes_never_share_a_sandbox_uid():
    holder = subprocess.Popen([sys.executable, "-c", "from grader import runner; import sys, time\n"
                               "print(runner._uids.take(), flush=True); sys.stdin.read()"],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        theirs = int(holder.stdout.readline())
        mine = runner._uids.take()
        try:
            assert mine != theirs
        finally:
            runner._uids.give(mine)
    finally:
        holder.communicate("", timeout=60)


def test_results_written_outside_the_guards_order_cost_the_check():
    def run(*records):
        return runner.Run("ok", records=[dict(r) for r in records])

    cell, done = {"k": "cell", "check": 0, "task": "1.1"}, {"k": "done", "check": 0}
    case = {"k": "case", "check": 0, "call": 0, "case": 0, "label": "x", "value": 1}
    end = {"k": "end", "check": 0, "call": 0, "cases": 1}
    assert verdict.forged_records(run(cell, case, end, done)) == {}
    twice = verdict.forged_records(run(cell, case, case, end, done))
    assert twice == {0: "tampering: a result of this check was written twice"}
    for early in (run(case, cell, end, done), run(cell, case, end, done, {**case, "case": 1})):
        assert verdict.forged_records(early) == {0: "tampering: a result of this check was written outside it"}


def test_a_wall_clock_timeout_is_retried_only_on_a_busy_machine(monkeypatch):
    calls = []

    def once(*args):
        calls.append(args)
        return runner.Run("timeout", wall_timeout=True)

    monkeypatch.setattr(runner, "_run_once", once)
    for busy, attempts in ((False, 1), (True, 2)):
        calls.clear()
        monkeypatch.setattr(runner, "busy", lambda: busy)
        assert runner.run(None, "learner", 1, Limits(), level="none").attempts == attempts
        assert len(calls) == attempts
