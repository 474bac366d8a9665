"""Everything tpkg needs from PyTorch, looked up lazily.

tpkg never imports torch by itself: an object that holds tensors can only
exist once torch has been imported, so ``loaded_torch()`` (torch if it is
already in ``sys.modules``) is all the exporter and importer need. Without
torch installed, every tensor-free feature still works.
"""
import sys


def loaded_torch():
    """The torch module if it has been imported, else None."""
    torch = sys.modules.get("torch")
    # A partially initialised torch (we are inside its own import) has no _C yet.
    return torch if torch is not None and hasattr(torch, "_C") else None


def register_importers_with_torch():
    """Makes real torch.package accept tpkg importers (its PackageExporter and
    OrderedImporter check isinstance against their own Importer ABC)."""
    torch_importer = sys.modules.get("torch.package.importer")
    if torch_importer is None:
        return
    from .importer import Importer

    if not issubclass(Importer, torch_importer.Importer):
        torch_importer.Importer.register(Importer)


def gate_torchscript_serialization() -> bool:
    """torch.package's beta gate for ScriptModules: tpkg honours the flag set
    on torch's own exporter module as well as on tpkg's."""
    from . import package_exporter

    torch_exporter = sys.modules.get("torch.package.package_exporter")
    if torch_exporter is not None and not torch_exporter._gate_torchscript_serialization:
        return False
    return package_exporter._gate_torchscript_serialization


def is_script_module(obj) -> bool:
    torch = loaded_torch()
    return torch is not None and isinstance(obj, torch.jit.RecursiveScriptModule)
