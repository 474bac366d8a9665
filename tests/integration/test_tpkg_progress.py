"""`tpkg`'s progress line (src/tools/progress_line.h): on standard error only when it is a
terminal (a pty here), only once the work took longer than the delay, erased at the end, and
never on standard output."""
import os
import pty
import subprocess

import pytest

ERASE = b"\r\x1b[K"


def big_archive(make_archive, corpus_dir, path, size):
    """pkg_model_numpy.pt plus a record of `size` zero bytes (a hole: no disk used)."""
    result = subprocess.run([make_archive, str(path), "--from",
                             str(corpus_dir / "pkg_model_numpy.pt"),
                             "--zeros", f".data/big.bin={size}"], capture_output=True)
    assert result.returncode == 0, result.stderr
    return path


def run_on_terminal(tmp_path, *args, delay_ms=None):
    """(exit status, stdout bytes, what the terminal on stderr received)."""
    env = dict(os.environ)
    env.pop("TPKG_PROGRESS_DELAY_MS", None)
    if delay_ms is not None:
        env["TPKG_PROGRESS_DELAY_MS"] = str(delay_ms)
    master, slave = pty.openpty()
    with open(tmp_path / "stdout", "wb") as out:
        child = subprocess.Popen([str(a) for a in args], stdout=out, stderr=slave, env=env)
    os.close(slave)
    terminal = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        terminal += data
    os.close(master)
    status = child.wait(timeout=300)
    return status, (tmp_path / "stdout").read_bytes(), terminal


@pytest.mark.parametrize("command", ["check", "scan", "repack", "cat"])
def test_progress_shows_on_a_terminal_and_is_erased(tpkg_bin, make_archive, corpus_dir,
                                                    tmp_path, command):
    archive = big_archive(make_archive, corpus_dir, tmp_path / "big.pt", 64 * 2**20)
    args = {"check": [archive], "scan": [archive], "repack": [archive, tmp_path / "out.pt"],
            "cat": [archive, ".data/big.bin"]}[command]
    # A delay of 0 shows the line at once, so that a small archive is enough here.
    status, stdout, terminal = run_on_terminal(tmp_path, tpkg_bin, command, *args, delay_ms=0)
    assert status == 0, terminal
    assert b"\rtpkg: " + command.encode() + b" " in terminal, terminal
    assert b"100% (" in terminal, terminal
    assert terminal.endswith(ERASE), terminal  # nothing left on the line
    assert b"%" not in stdout  # standard output has the result only
    if command == "check":
        assert stdout.startswith(str(archive).encode() + b": ok")
    if command == "cat":
        assert len(stdout) == 64 * 2**20


def test_quick_work_shows_no_progress(tpkg_bin, corpus_dir, tmp_path):
    status, stdout, terminal = run_on_terminal(tmp_path, tpkg_bin, "check",
                                               corpus_dir / "pkg_model_numpy.pt")
    assert status == 0
    assert terminal == b""
    assert stdout.endswith(b"ok (format; whether it is safe to load is tpkg scan's job)\n")


def test_no_progress_when_stderr_is_not_a_terminal(tpkg_bin, make_archive, corpus_dir, tmp_path):
    archive = big_archive(make_archive, corpus_dir, tmp_path / "big.pt", 16 * 2**20)
    env = dict(os.environ, TPKG_PROGRESS_DELAY_MS="0")
    result = subprocess.run([tpkg_bin, "check", archive], capture_output=True, env=env)
    assert result.returncode == 0
    assert result.stderr == b""


@pytest.mark.skipif(os.environ.get("TPKG_SLOW") != "1",
                    reason="slow tier (TPKG_SLOW=1): checks an 8 GiB archive")
def test_progress_of_a_big_archive_with_the_default_delay(tpkg_bin, make_archive, corpus_dir,
                                                          tmp_path):
    # 8 GiB of CRC-32 over a hole take well over the default second.
    archive = big_archive(make_archive, corpus_dir, tmp_path / "huge.pt", 8 * 2**30)
    status, stdout, terminal = run_on_terminal(tmp_path, tpkg_bin, "check", archive)
    assert status == 0
    assert b"tpkg: check " in terminal and b"GiB of 8.0 GiB)" in terminal, terminal
    assert terminal.endswith(ERASE)
    assert stdout.startswith(str(archive).encode() + b": ok")


@pytest.mark.parametrize("command", ["info", "tensors", "diff"])
def test_inspection_progress_shows_on_a_terminal_and_is_erased(tpkg_bin, corpus_dir, tmp_path,
                                                               command):
    # info, tensors and diff read the pickles (and a package's sources; diff first every record
    # of both files): their progress counts those bytes. A delay of 0 shows the line at once, so
    # a corpus package is enough.
    package = corpus_dir / "pkg_model_numpy.pt"
    args = [package, package] if command == "diff" else [package]
    status, stdout, terminal = run_on_terminal(tmp_path, tpkg_bin, command, *args, delay_ms=0)
    assert status == 0, terminal
    assert b"\rtpkg: " + command.encode() + b" " in terminal, terminal
    assert b"100% (" in terminal, terminal
    assert terminal.endswith(ERASE), terminal
    assert b"\r" not in stdout and b"100%" not in stdout
    quiet = subprocess.run([tpkg_bin, command, *args], capture_output=True)
    assert quiet.returncode == 0 and quiet.stdout == stdout  # the same result without a terminal
    assert quiet.stderr == b""


def test_inspection_of_a_small_file_shows_no_progress(tpkg_bin, corpus_dir, tmp_path):
    for command in ("info", "tensors"):
        status, _, terminal = run_on_terminal(tmp_path, tpkg_bin, command,
                                              corpus_dir / "pkg_model_numpy.pt")
        assert status == 0 and terminal == b"", (command, terminal)
