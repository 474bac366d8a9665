"""torch.package's "mocked but still used" check of save_pickle, quirk for quirk.

torch walks the pickle's opcodes tracking a (module, field) pair, collects
the fields of every global whose module's first matching pattern is MOCK,
and then tests only the *last* tracked module against that collection (a
variable mix-up in 1.13). When it is there, every module of the pickle is
flagged with that module's fields. The exporter calls this only when some
module of the pickle is claimed by a mock pattern, which is rare, so the
pure-Python opcode walk costs nothing in ordinary exports.
"""
from collections import defaultdict
from typing import Callable, DefaultDict, Dict, List, Optional


def mocked_fields_of_last_module(data: bytes, first_action: Callable) -> Optional[List[str]]:
    """The fields torch reports, or None when its check does not fire.

    `first_action(module)` is the action of the first user pattern matching
    `module` (None for implicit externs and unmatched modules).
    """
    import pickletools

    from .package_exporter import _ModuleProviderAction

    protocol = data[1] if len(data) >= 2 and data[0] == 0x80 else 0
    mocked: DefaultDict[str, List[str]] = defaultdict(list)
    module = field = None
    memo: Dict[int, str] = {}
    memo_count = 0

    def check(mod, fld):
        if first_action(mod) == _ModuleProviderAction.MOCK:
            mocked[mod].append(fld)

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
                check(module, field)
        elif name == "GLOBAL":
            module, field = arg.split(" ")
            check(module, field)
    return mocked[module] if module in mocked else None
