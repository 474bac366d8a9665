"""What torch's own writer makes of an archive's records: the reference for
`.data/serialization_id`, which torch 2.x derives from every record before it.

    rewrite_with_torch(archive, out)              # torch's archive of exactly these records
    torch_serialization_id(archive, scratch_dir)  # (the archive's id, the one torch writes)

Both feed every record of `archive` but `.data/serialization_id`, in order and under
their names, to torch._C.PyTorchFileWriter, which is what torch.save and PackageExporter
write through; its finish step adds what it adds (the version, `byteorder` and the id on
torch 2.x) unless fed already. Folder entries (`dir/`, which zip tools and our save of an
empty folder or a folder's mode write) are left out: torch's writers never write one,
PackageImporter ignores them, and the id the save writes is the one torch writes for the
package's files (src/lib/zip/zip_writer.cc, AddSerializationId). Needs the stack's torch
(import this module in a process that has it).
"""
import pathlib
import zipfile

SERIALIZATION_ID = ".data/serialization_id"


def _prefix(zf):
    return zf.infolist()[0].filename.split("/", 1)[0] + "/"


def rewrite_with_torch(archive, out):
    """Writes `archive`'s records with torch's writer to `out`, whose file name must give the
    same prefix folder (torch names it after the file: `<out stem>/`)."""
    import torch

    with zipfile.ZipFile(archive) as zf:
        prefix = _prefix(zf)
        writer = torch._C.PyTorchFileWriter(str(out))
        for info in zf.infolist():
            name = info.filename[len(prefix):]
            if not info.is_dir() and name != SERIALIZATION_ID:
                data = zf.read(info)
                writer.write_record(name, data, len(data))
        writer.write_end_of_file()
        del writer


def torch_serialization_id(archive, scratch_dir):
    """(the `.data/serialization_id` of `archive`, the one torch writes for its records)."""
    with zipfile.ZipFile(archive) as zf:
        prefix = _prefix(zf)
        ours = zf.read(prefix + SERIALIZATION_ID).decode()
    out = pathlib.Path(scratch_dir) / (prefix[:-1] + ".pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    rewrite_with_torch(archive, out)
    with zipfile.ZipFile(out) as zf:
        theirs = zf.read(prefix + SERIALIZATION_ID).decode()
    return ours, theirs
