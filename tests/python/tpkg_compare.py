"""Deep comparison of values loaded by real torch.package and by tpkg.

Objects from two different importers have different (mangled) classes, so
classes are compared by demangled qualified name and objects by their
state. Tensors must agree in dtype, shape, stride, storage offset, storage
size, requires_grad and bytes; and the partition of all tensors of a value
into groups sharing one storage must be the same.
"""
import re
import types

_MANGLE = re.compile(r"<torch_package_\d+>\.?")


def demangled_name(t) -> str:
    return _MANGLE.sub("", f"{t.__module__}.{t.__qualname__}")


def unmangle_text(text: str) -> str:
    return _MANGLE.sub("<torch_package_N>.", text)


class Comparer:
    def __init__(self):
        import torch
        import torch.fx

        self.torch = torch
        self.storages_a = []  # storage data_ptr of each tensor met, in walk order
        self.storages_b = []
        self._seen = set()

    def same(self, a, b, path="value"):
        key = (id(a), id(b))
        if key in self._seen:
            return
        self._seen.add(key)
        torch = self.torch
        if isinstance(a, torch.jit.ScriptModule):
            return self._same_script(a, b, path)
        if isinstance(a, torch.fx.GraphModule):
            return self._same_script(a, b, path)
        if isinstance(a, torch.Tensor):
            return self._same_tensor(a, b, path)
        if isinstance(a, (torch.storage.TypedStorage, torch.UntypedStorage)):
            return self._same_tensor(torch.tensor([], dtype=a.dtype).set_(a), torch.tensor([], dtype=b.dtype).set_(b), path)
        if type(a).__name__ == "ndarray":
            assert type(b).__name__ == "ndarray", path
            assert a.dtype == b.dtype and a.shape == b.shape, path
            assert (a == b).all(), path
            return
        if isinstance(a, type):
            assert isinstance(b, type) and demangled_name(a) == demangled_name(b), path
            return
        if isinstance(a, (types.FunctionType, types.BuiltinFunctionType, types.ModuleType)):
            assert unmangle_text(getattr(a, "__qualname__", a.__name__)) == unmangle_text(
                getattr(b, "__qualname__", b.__name__)), path
            return
        assert demangled_name(type(a)) == demangled_name(type(b)), f"{path}: {type(a)} vs {type(b)}"
        if demangled_name(type(a)) == "_mock.MockedObject":
            assert unmangle_text(repr(a)) == unmangle_text(repr(b)), path
            return
        if isinstance(a, dict):
            assert len(a) == len(b), path
            for (ka, va), (kb, vb) in zip(a.items(), b.items()):
                self.same(ka, kb, f"{path}.keys()")
                self.same(va, vb, f"{path}[{ka!r}]")
            if type(a) is dict or type(a).__module__ == "collections":
                return
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b), path
            for i, (x, y) in enumerate(zip(a, b)):
                self.same(x, y, f"{path}[{i}]")
            if type(a) in (list, tuple):
                return
        elif isinstance(a, (set, frozenset)):
            assert a == b, path
            return
        elif a is None or isinstance(a, (bool, int, float, complex, str, bytes, bytearray)):
            assert a == b or (a != a and b != b), f"{path}: {a!r} != {b!r}"
            return
        state_a, state_b = getattr(a, "__dict__", None), getattr(b, "__dict__", None)
        if state_a is not None:
            self.same(state_a, state_b, f"{path}.__dict__")
        else:
            assert repr(a) == repr(b), path

    def _same_tensor(self, a, b, path):
        torch = self.torch
        assert isinstance(b, torch.Tensor), path
        assert type(a).__name__ == type(b).__name__, path
        assert a.dtype == b.dtype, path
        assert a.shape == b.shape and a.stride() == b.stride(), path
        assert a.storage_offset() == b.storage_offset(), path
        assert a.storage().size() == b.storage().size(), path
        assert a.requires_grad == b.requires_grad, path
        assert a.device == b.device, path
        raw_a = a.detach().contiguous().reshape(-1).view(torch.uint8)
        raw_b = b.detach().contiguous().reshape(-1).view(torch.uint8)
        assert torch.equal(raw_a, raw_b), path
        self.storages_a.append(a.storage().data_ptr())
        self.storages_b.append(b.storage().data_ptr())

    def _same_script(self, a, b, path):
        # Script and fx modules: same code, same tensors.
        assert type(a).__name__ == type(b).__name__, path
        assert a.code == b.code, path
        self.same(dict(a.state_dict()), dict(b.state_dict()), f"{path}.state_dict()")

    def assert_same_sharing(self):
        """Tensors that share a storage in one load share it in the other."""
        def groups(ptrs):
            first = {}
            return [first.setdefault(p, i) for i, p in enumerate(ptrs)]
        assert groups(self.storages_a) == groups(self.storages_b)


def assert_same_value(a, b):
    c = Comparer()
    c.same(a, b)
    c.assert_same_sharing()
    return c
