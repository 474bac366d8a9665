"""importlib.resources and inspect support for packaged modules."""
import inspect
import os.path
import sys
from io import BytesIO
from pathlib import Path
from weakref import WeakValueDictionary

from . import _mangling
from ._directory_reader import DirectoryReader

# Every module any tpkg importer has made, by mangled name.
_package_imported_modules: WeakValueDictionary = WeakValueDictionary()
# The names of those made before torch was loaded, not yet in its table.
_not_shared_with_torch: list = []


def register_module(module):
    """Records a module a tpkg importer made: for inspect.getfile, and in
    torch.package's own table once torch is loaded. torch 2.x's Dynamo looks
    packaged modules up there by their mangled names: torch.compile and
    torch.export of packaged code need them. The names are unique across both
    libraries (the mangle counter is shared: _mangling.py)."""
    name = module.__name__
    assert name not in _package_imported_modules
    _package_imported_modules[name] = module
    _not_shared_with_torch.append(name)
    share_with_torch()


def share_with_torch():
    """Puts the modules made so far into torch.package's table, when torch is
    loaded (tpkg never imports it itself). torch loaded after tpkg made some
    started its mangle counter at 0 again: it is moved past tpkg's first, so
    that torch's next importers never make a name tpkg shared. A name one of
    them made meanwhile stays torch's."""
    if not _not_shared_with_torch:
        return
    torch_importer = sys.modules.get("torch.package.package_importer")
    theirs = getattr(torch_importer, "_package_imported_modules", None)
    if theirs is None:
        return
    _mangling.keep_torch_counter_in_step()
    for name in _not_shared_with_torch:
        module = _package_imported_modules.get(name)
        if module is not None:
            theirs.setdefault(name, module)
    _not_shared_with_torch.clear()

# `inspect` only looks in sys.modules for the files of classes; packaged
# classes live elsewhere. Chained, so torch.package's own patch keeps working.
_orig_getfile = inspect.getfile


def _patched_getfile(object):
    if inspect.isclass(object):
        if object.__module__ in _package_imported_modules:
            return _package_imported_modules[object.__module__].__file__
    return _orig_getfile(object)


inspect.getfile = _patched_getfile


class PackageResourceReader:
    """importlib.abc.ResourceReader for PackageImporter.get_resource_reader()."""

    def __init__(self, importer, fullname):
        self.importer = importer
        self.fullname = fullname

    def open_resource(self, resource):
        return BytesIO(self.importer.load_binary(self.fullname, resource))

    def resource_path(self, resource):
        # Either a concrete file system path or FileNotFoundError.
        reader = self.importer._reader
        if isinstance(reader, DirectoryReader) and reader.has_record(os.path.join(self.fullname, resource)):
            return os.path.join(reader.directory, self.fullname, resource)
        raise FileNotFoundError

    def is_resource(self, name):
        path = self.importer._zipfile_path(self.fullname, name)
        return self.importer._reader.has_record(path)

    def contents(self):
        fullname_path = Path(self.importer._zipfile_path(self.fullname))
        files = self.importer._reader.get_all_records()
        subdirs_seen = set()
        for filename in files:
            try:
                relative = Path(filename).relative_to(fullname_path)
            except ValueError:
                continue
            # A name in a subdirectory yields that subdirectory, once.
            parent_name = relative.parent.name
            if len(parent_name) == 0:
                yield relative.name
            elif parent_name not in subdirs_seen:
                subdirs_seen.add(parent_name)
                yield parent_name
