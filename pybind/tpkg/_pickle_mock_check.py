"""Inputs for torch.package's "mocked but still used" check of save_pickle.

torch walks the pickle's opcodes tracking a (module, field) pair, collects
the fields of every global whose module's first matching pattern is MOCK,
then tests only the *last* tracked module against that collection (a
variable mix-up in 1.13) and, when it is there, flags every module of the
pickle. The policy (tpkg/policy.h) replays the check from the globals in
opcode order and that last module, which this walk computes. The exporter
runs it only when a module of the pickle is claimed by a mock pattern, so
ordinary exports never pay for the pure-Python opcode walk.
"""
import pickletools
from typing import Dict, List, Optional, Tuple


def torch_mock_check_inputs(data: bytes) -> Tuple[List[Tuple[str, str]], Optional[str]]:
    """(every (module, field) global in opcode order, torch's last tracked module)."""
    protocol = data[1] if len(data) >= 2 and data[0] == 0x80 else 0
    globals_: List[Tuple[str, str]] = []
    module = field = None
    memo: Dict[int, str] = {}
    memo_count = 0
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if protocol == 4:
            if name in ("SHORT_BINUNICODE", "BINUNICODE8"):
                module, field = field, arg
                memo[memo_count] = arg
            elif name in ("BINGET_LONG", "BINGET", "GET"):
                module, field = field, memo.get(arg)
            elif name == "MEMOIZE":
                memo_count += 1
            elif name == "STACK_GLOBAL" and isinstance(module, str) and isinstance(field, str):
                globals_.append((module, field))
        elif name == "GLOBAL":
            module, field = arg.split(" ")
            globals_.append((module, field))
    return globals_, module if isinstance(module, str) else ""
